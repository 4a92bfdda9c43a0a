#include "agent/natpmp.hpp"

#include <cstring>

namespace mesh::agent {

namespace {
constexpr std::uint8_t kPcpVersion = 2;
constexpr std::uint8_t kAddressAnswer = 128;  // opcode 0 | the answer bit
}  // namespace

std::vector<std::uint8_t> natpmp_address_request() {
    return {0, 0};
}

std::optional<NatPmpAnswer> parse_natpmp_answer(std::span<const std::uint8_t> b) {
    if (b.size() < 4) return std::nullopt;
    NatPmpAnswer out;
    out.version = b[0];
    if (out.version == kPcpVersion) {
        // A PCP answer header: version, R|opcode, reserved, result code (1 byte).
        if ((b[1] & 0x80) == 0) return std::nullopt;
        out.result = b[3];
        return out;
    }
    if (out.version != 0 || b[1] != kAddressAnswer) return std::nullopt;
    out.result = static_cast<std::uint16_t>(b[2] << 8 | b[3]);
    if (out.result != 0) return out;
    if (b.size() < 12) return std::nullopt;
    kb::IpAddress ip;  // IPv4 by default
    std::memcpy(ip.bytes.data(), b.data() + 8, 4);
    out.external = ip;
    return out;
}

}  // namespace mesh::agent
