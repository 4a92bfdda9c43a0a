// `meshctl join`'s coordinator list as the agent parses it (LocalJoinRequest's coordinator and
// fingerprint fields): arbitrary bytes, split at the first NUL into the address list and the
// fingerprint list (no NUL: all addresses, one valid fingerprint). A refusal may only be a
// mesh::Error with a single bounded line; what parses is 1..kMaxCoordinators distinct valid
// addresses, each with a canonical pin, and formats back into the same list.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "agent/coordinator_list.hpp"
#include "kmod-bridge/error.hpp"
#include "proto/tls_pin.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::agent;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    static const std::string kPin = "sha256:" + std::string(64, 'a');
    auto nul = input.find('\0');
    std::string_view addresses = input.substr(0, nul);
    std::string_view fingerprints =
        nul == std::string_view::npos ? std::string_view(kPin) : input.substr(nul + 1);

    CoordinatorList list;
    try {
        list = parse_coordinator_list(addresses, fingerprints);
    } catch (const mesh::Error& e) {
        std::string_view why = e.what();
        FUZZ_CHECK(!why.empty());
        FUZZ_CHECK(why.find('\n') == std::string_view::npos);
        FUZZ_CHECK(why.find('\r') == std::string_view::npos);
        FUZZ_CHECK(why.size() < 1024);
        return 0;
    }
    FUZZ_CHECK(!list.empty() && list.size() <= kMaxCoordinators);
    std::set<std::string> seen;
    for (const auto& e : list) {
        FUZZ_CHECK(seen.insert(e.address).second);
        validate_coordinator_address(e.address);  // throws (a crash here) if it let one through
        FUZZ_CHECK(e.fingerprint.size() == 71 && e.fingerprint.starts_with("sha256:"));
        FUZZ_CHECK(mesh::tls::parse_fingerprint(e.fingerprint) == e.fingerprint);
    }
    FUZZ_CHECK(shares_fingerprint(list, list));
    // What meshctl sends the agent, and the agent reads back: the same list.
    FUZZ_CHECK(parse_coordinator_list(format_addresses(list), format_fingerprints(list)) == list);
    return 0;
}
