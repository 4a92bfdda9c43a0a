#include "kmod-bridge/stun_wire.hpp"

#include <algorithm>

namespace mesh::kb::stun::wire {

namespace {

constexpr std::uint32_t kFingerprintXor = 0x5354554e;

// CRC-32 as zlib's crc32: reflected polynomial 0xEDB88320, initial value and final XOR all ones.
constexpr std::array<std::uint32_t, 256> kCrcTable = [] {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}();

}  // namespace

std::uint32_t fingerprint_of(Bytes before) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::uint8_t b : before) c = kCrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
    return ~c ^ kFingerprintXor;
}

Mask xor_mask(std::span<const std::uint8_t, 12> transaction) {
    Mask mask{};
    for (std::size_t i = 0; i < 4; ++i) {
        mask[i] = static_cast<std::uint8_t>(kCookie >> (24 - 8 * i));
    }
    std::copy(transaction.begin(), transaction.end(), mask.begin() + 4);
    return mask;
}

std::vector<std::uint8_t> xor_address_value(const Endpoint& endpoint,
                                            std::span<const std::uint8_t, 12> transaction) {
    std::vector<std::uint8_t> value = {0,
                                       static_cast<std::uint8_t>(endpoint.address.is_v4() ? 1 : 2)};
    put16(value, endpoint.port ^ kPortXor);
    const Mask mask = xor_mask(transaction);
    for (std::size_t i = 0; i < endpoint.address.size(); ++i) {
        value.push_back(endpoint.address.bytes[i] ^ mask[i]);
    }
    return value;
}

std::optional<Attribute> attribute_at(Bytes packet, std::size_t offset) {
    if (packet.size() - offset < kAttributeHeader) return std::nullopt;
    const std::size_t length = get16(&packet[offset + 2]);
    if (packet.size() - offset - kAttributeHeader < padded(length)) return std::nullopt;
    return Attribute{get16(&packet[offset]), offset,
                     packet.subspan(offset + kAttributeHeader, length)};
}

std::optional<Endpoint> parse_address(Bytes value, const Mask& mask, std::uint16_t port_xor) {
    if (value.size() < 4) return std::nullopt;
    Endpoint endpoint;
    if (value[1] == 1 && value.size() == 8) {
        endpoint.address.family = IpAddress::Family::v4;
    } else if (value[1] == 2 && value.size() == 20) {
        endpoint.address.family = IpAddress::Family::v6;
    } else {
        return std::nullopt;
    }
    endpoint.port = get16(&value[2]) ^ port_xor;
    for (std::size_t i = 0; i < endpoint.address.size(); ++i) {
        endpoint.address.bytes[i] = value[4 + i] ^ mask[i];
    }
    return endpoint;
}

bool fingerprint_verifies(Bytes packet, const Attribute& a) {
    return a.value.size() == 4 && a.offset + kFingerprintAttribute == packet.size() &&
           get32(a.value.data()) == fingerprint_of(packet.first(a.offset));
}

}  // namespace mesh::kb::stun::wire
