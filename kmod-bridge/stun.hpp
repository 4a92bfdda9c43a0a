#pragma once
// STUN (RFC 8489) Binding messages: what the coordinator's STUN responder, the agent's STUN
// client and the agents' path probes exchange. Pure: bytes in, bytes out.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include "kmod-bridge/ip.hpp"

namespace mesh::kb::stun {

constexpr std::uint32_t kMagicCookie = 0x2112A442;
constexpr std::size_t kHeaderSize = 20;
constexpr std::size_t kMaxMessageSize = 1280;  // decode refuses anything larger
// The largest Binding success our responder sends: header, XOR-MAPPED-ADDRESS of an IPv6
// address (4 + 20), FINGERPRINT (4 + 4). It answers only requests at least this large.
constexpr std::size_t kLargestBindingAnswer = kHeaderSize + 24 + 8;
// PADDING our client adds to a Binding request for the responder (header 20 + PADDING 4 + this
// + FINGERPRINT 8 = 56 bytes >= kLargestBindingAnswer).
constexpr std::uint16_t kBindingRequestPadding = 24;
using TransactionId = std::array<std::uint8_t, 12>;
using IntegrityKey = std::array<std::uint8_t, 32>;

enum class Type : std::uint16_t {
    binding_request = 0x0001,
    binding_success = 0x0101,
    binding_error = 0x0111,
};

struct Message {
    Type type = Type::binding_request;
    TransactionId transaction{};
    // XOR-MAPPED-ADDRESS (0x0020); on decode, MAPPED-ADDRESS (0x0001) is used when there is no
    // XOR-MAPPED-ADDRESS (old servers). encode writes XOR-MAPPED-ADDRESS only.
    std::optional<Endpoint> mapped;
    // USERNAME (0x0006), at most 513 bytes, UTF-8 not checked.
    std::optional<std::string> username;
    // ERROR-CODE (0x0009) of a binding_error: class*100+number; 0 = absent.
    std::uint16_t error_code = 0;
    // PADDING (0x0026, RFC 5780 section 7.6): this many zero bytes, at most 1024; 0 = absent.
    // A client pads a request so that its answer is no larger than it (no amplification).
    std::uint16_t padding = 0;
    // Filled by decode: offset of the MESSAGE-INTEGRITY-SHA256 (0x001C) attribute header within
    // the packet, when present, and the 32-byte value it carried.
    std::optional<std::size_t> integrity_offset;
    std::array<std::uint8_t, 32> integrity{};
    bool has_fingerprint = false;  // filled by decode: a FINGERPRINT that verified was present
    bool operator==(const Message&) const = default;
};

// Serialises. With a key, appends MESSAGE-INTEGRITY-SHA256 (HMAC-SHA-256 with the 32-byte key,
// RFC 8489 section 14.6: computed over the message up to the attribute, with the header's length
// field counting up to and including this attribute). Always appends FINGERPRINT last (section
// 14.7: CRC-32 of the message up to it, XOR 0x5354554e, header length counting the fingerprint).
// The fields filled by decode (integrity_offset, integrity, has_fingerprint) are not read.
// Throws mesh::Error for what decode would refuse: a type other than the three above, a
// username over 513 bytes, an error_code other than 0 or 300..699 (section 14.8), padding over
// 1024 bytes.
std::vector<std::uint8_t> encode(const Message& message, const IntegrityKey* key = nullptr);

// Parses one message. nullopt for anything that is not a well-formed STUN message: wrong first
// two bits, wrong magic cookie, length not a multiple of 4 or not matching the packet, an
// attribute running past the end, a malformed known attribute (XOR-MAPPED-ADDRESS with an unknown
// family or wrong length...), a FINGERPRINT that does not verify or is not the last attribute,
// more than kMaxMessageSize bytes, a message type other than the three above. Unknown attributes
// (comprehension-optional ones >= 0x8000 and also comprehension-required ones we do not know,
// such as SOFTWARE 0x8022, RESPONSE-ORIGIN 0x802b, OTHER-ADDRESS 0x802c, PRIORITY 0x0024...)
// are skipped. Attributes after MESSAGE-INTEGRITY-SHA256 other than FINGERPRINT are ignored
// (section 14.6). Attribute values are padded to 4 bytes.
std::optional<Message> decode(std::span<const std::uint8_t> packet);

// True when `message` (decoded from exactly `packet`) carries a MESSAGE-INTEGRITY-SHA256 that
// verifies with `key`. Constant-time comparison (sodium_memcmp or crypto_auth_hmacsha256_verify).
bool verify_integrity(std::span<const std::uint8_t> packet, const Message& message,
                      const IntegrityKey& key);

// Cheap pre-check used before decode: at least 20 bytes, first two bits zero, magic cookie.
bool looks_like_stun(std::span<const std::uint8_t> packet);

}  // namespace mesh::kb::stun
