// Feeds arbitrary text to the value parsers every wire message goes through: IP addresses,
// prefixes (with and without host bits), endpoints and keys (base64 and hex). They may reject
// input only by throwing mesh::Error. What parses must print as text that parses back to the
// same value, and an accepted text uses only the characters of its grammar.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/key.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using mesh::kb::Endpoint;
using mesh::kb::IpAddress;
using mesh::kb::IpPrefix;
using mesh::kb::Key;

namespace {

bool only(std::string_view text, std::string_view alphabet) {
    return text.find_first_not_of(alphabet) == std::string_view::npos;
}

constexpr std::string_view kIpChars = "0123456789abcdefABCDEF.:";

void address(std::string_view text) {
    try {
        auto a = IpAddress::parse(text);
        FUZZ_CHECK(only(text, kIpChars));
        FUZZ_CHECK(IpAddress::parse(a.to_string()) == a);
    } catch (const mesh::Error&) {
    }
}

void prefix(std::string_view text, bool allow_host_bits) {
    try {
        auto p = IpPrefix::parse(text, allow_host_bits);
        FUZZ_CHECK(only(text, "0123456789abcdefABCDEF.:/"));
        FUZZ_CHECK(p.length <= p.address.max_prefix());
        FUZZ_CHECK(IpPrefix::parse(p.to_string(), allow_host_bits) == p);
        // The masked prefix is always acceptable where host bits are not.
        auto m = p.masked();
        FUZZ_CHECK(IpPrefix::parse(m.to_string()) == m);
        FUZZ_CHECK(m.contains(p.address) && p.contains(m.address));
        if (!allow_host_bits) FUZZ_CHECK(m == p);
    } catch (const mesh::Error&) {
    }
}

void endpoint(std::string_view text) {
    try {
        auto e = Endpoint::parse(text);
        FUZZ_CHECK(only(text, "0123456789abcdefABCDEF.:[]"));
        FUZZ_CHECK(e.port != 0);
        FUZZ_CHECK(Endpoint::parse(e.to_string()) == e);
    } catch (const mesh::Error&) {
    }
}

void keys(std::string_view text) {
    try {
        auto k = Key::from_base64(text);
        // Canonical base64 only: one key, one text (a damaged key file is refused, not read as
        // another key).
        FUZZ_CHECK(k.to_base64() == text);
        FUZZ_CHECK(Key::from_hex(k.to_hex()) == k);
    } catch (const mesh::Error&) {
    }
    try {
        auto k = Key::from_hex(text);
        std::string lower(text);
        for (auto& c : lower) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
        FUZZ_CHECK(k.to_hex() == lower);
        FUZZ_CHECK(Key::from_base64(k.to_base64()) == k);
    } catch (const mesh::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    address(text);
    prefix(text, false);
    prefix(text, true);
    endpoint(text);
    keys(text);
    return 0;
}
