// Feeds arbitrary bytes to the NAT-PMP / PCP answer parser as if the default gateway (or anyone
// able to send to meshctl netcheck's socket) had sent them: the parser refuses input only by
// returning nullopt. Properties: an accepted answer is version 0 or 2; an external address is
// given only for a successful NAT-PMP answer of at least 12 bytes, and it is those bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "agent/natpmp.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto answer = mesh::agent::parse_natpmp_answer(std::span(data, size));
    if (!answer) return 0;
    FUZZ_CHECK(size >= 4);
    FUZZ_CHECK(answer->version == 0 || answer->version == 2);
    if (answer->external) {
        FUZZ_CHECK(answer->version == 0 && answer->result == 0 && size >= 12);
        FUZZ_CHECK(answer->external->is_v4());
        FUZZ_CHECK(std::memcmp(answer->external->bytes.data(), data + 8, 4) == 0);
    }
    return 0;
}
