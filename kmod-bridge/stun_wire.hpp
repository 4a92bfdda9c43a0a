#pragma once
// The wire format STUN (RFC 8489) and TURN (RFC 8656) share: big-endian fields, 4-byte padded
// attributes, XOR-encoded addresses, the length field and FINGERPRINT. Used by stun.cpp (Binding)
// and turn_codec.cpp (Allocate, Refresh, CreatePermission, ChannelBind, Send and Data). Every
// read is bounded by the span it is given.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/stun.hpp"

namespace mesh::kb::stun::wire {

using Bytes = std::span<const std::uint8_t>;
using Mask = std::array<std::uint8_t, 16>;

inline constexpr std::uint32_t kCookie = kMagicCookie;
inline constexpr std::size_t kHeader = kHeaderSize;
inline constexpr std::size_t kAttributeHeader = 4;
inline constexpr std::uint16_t kPortXor = kCookie >> 16;
inline constexpr std::uint16_t kFingerprintType = 0x8028;
inline constexpr std::size_t kFingerprintAttribute = kAttributeHeader + 4;

inline std::uint16_t get16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

inline std::uint32_t get32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
           std::uint32_t{p[3]};
}

inline void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}

inline void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    put16(out, static_cast<std::uint16_t>(v >> 16));
    put16(out, static_cast<std::uint16_t>(v));
}

inline std::size_t padded(std::size_t n) {
    return (n + 3) & ~std::size_t{3};
}

// The FINGERPRINT value (RFC 8489 section 14.7) of a message whose bytes before the attribute
// are `before`, their length field already counting the fingerprint: CRC-32 (zlib's), XOR
// 0x5354554e.
std::uint32_t fingerprint_of(Bytes before);

// What an XOR-address's address is XORed with: the magic cookie, then the transaction id.
Mask xor_mask(std::span<const std::uint8_t, 12> transaction);

// Sets the header's length field to the message so far plus `still_to_come` bytes.
inline void set_length(std::vector<std::uint8_t>& out, std::size_t still_to_come) {
    const std::size_t length = out.size() - kHeader + still_to_come;
    out[2] = static_cast<std::uint8_t>(length >> 8);
    out[3] = static_cast<std::uint8_t>(length);
}

inline void put_attribute(std::vector<std::uint8_t>& out, std::uint16_t type, Bytes value) {
    put16(out, type);
    put16(out, static_cast<std::uint16_t>(value.size()));
    out.insert(out.end(), value.begin(), value.end());
    out.resize(padded(out.size()), 0);
}

// The value of an XOR-*-ADDRESS attribute for `endpoint`.
std::vector<std::uint8_t> xor_address_value(const Endpoint& endpoint,
                                            std::span<const std::uint8_t, 12> transaction);

struct Attribute {
    std::uint16_t type;
    std::size_t offset;  // of its header within the packet
    Bytes value;
};

// The attribute whose header is at `offset`; nullopt when it (or its padding) runs past the end.
std::optional<Attribute> attribute_at(Bytes packet, std::size_t offset);

// (XOR-)address: reserved byte, family, port, address; XORed with `mask` and `port_xor` (zero
// for a plain MAPPED-ADDRESS). nullopt for an unknown family or a wrong length.
std::optional<Endpoint> parse_address(Bytes value, const Mask& mask, std::uint16_t port_xor);

// A FINGERPRINT attribute that is the packet's last and verifies.
bool fingerprint_verifies(Bytes packet, const Attribute& attribute);

}  // namespace mesh::kb::stun::wire
