#include "kmod-bridge/stun.hpp"

#include <sodium.h>

#include <algorithm>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/stun_wire.hpp"

namespace mesh::kb::stun {

namespace {

using namespace wire;

// Attribute types (RFC 8489 section 18.3).
constexpr std::uint16_t kMappedAddress = 0x0001;
constexpr std::uint16_t kUsername = 0x0006;
constexpr std::uint16_t kErrorCode = 0x0009;
constexpr std::uint16_t kIntegritySha256 = 0x001C;
constexpr std::uint16_t kXorMappedAddress = 0x0020;
constexpr std::uint16_t kPadding = 0x0026;  // RFC 5780
constexpr std::size_t kMaxPadding = 1024;
constexpr std::uint16_t kFingerprint = kFingerprintType;

constexpr std::size_t kMaxUsername = 513;
constexpr std::size_t kIntegritySize = 32;  // we send and accept only the untruncated HMAC
constexpr std::size_t kIntegrityAttribute = kAttributeHeader + kIntegritySize;

using Mac = std::array<std::uint8_t, kIntegritySize>;

// The MESSAGE-INTEGRITY-SHA256 value of a message whose bytes before the attribute are
// `before`: HMAC-SHA-256 with the header's length field counting up to the end of the
// attribute, whatever the length field of `before` says (section 14.6).
Mac integrity_of(Bytes before, const IntegrityKey& key) {
    const auto length =
        static_cast<std::uint16_t>(before.size() - kHeaderSize + kIntegrityAttribute);
    const std::array<std::uint8_t, 4> head = {before[0], before[1],
                                              static_cast<std::uint8_t>(length >> 8),
                                              static_cast<std::uint8_t>(length)};
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, key.data(), key.size());
    crypto_auth_hmacsha256_update(&state, head.data(), head.size());
    crypto_auth_hmacsha256_update(&state, before.data() + head.size(), before.size() - head.size());
    Mac mac{};
    crypto_auth_hmacsha256_final(&state, mac.data());
    sodium_memzero(&state, sizeof state);
    return mac;
}

bool known_type(std::uint16_t type) {
    return type == static_cast<std::uint16_t>(Type::binding_request) ||
           type == static_cast<std::uint16_t>(Type::binding_success) ||
           type == static_cast<std::uint16_t>(Type::binding_error);
}

void check_encodable(const Message& message) {
    if (!known_type(static_cast<std::uint16_t>(message.type))) {
        throw Error("STUN encode: message type is not a Binding request or response");
    }
    if (message.username && message.username->size() > kMaxUsername) {
        throw Error("STUN encode: USERNAME is " + std::to_string(message.username->size()) +
                    " bytes, more than the 513 RFC 8489 allows");
    }
    if (message.error_code != 0 && (message.error_code < 300 || message.error_code > 699)) {
        throw Error("STUN encode: ERROR-CODE " + std::to_string(message.error_code) +
                    " is outside 300..699 (RFC 8489 section 14.8)");
    }
    if (message.padding > kMaxPadding) {
        throw Error("STUN encode: PADDING of " + std::to_string(message.padding) +
                    " bytes is more than 1024");
    }
}

// ERROR-CODE: 21 reserved bits, class (3 to 6), number (0 to 99), a reason phrase we ignore.
std::optional<std::uint16_t> parse_error_code(Bytes value) {
    if (value.size() < 4) return std::nullopt;
    const unsigned error_class = value[2] & 0x07;
    const unsigned number = value[3];
    if (error_class < 3 || error_class > 6 || number > 99) return std::nullopt;
    return static_cast<std::uint16_t>(error_class * 100 + number);
}

struct Decoding {
    Message message;
    std::optional<Endpoint> plain_mapped;  // MAPPED-ADDRESS: used when no XOR-MAPPED-ADDRESS
};

// Adds one attribute met before MESSAGE-INTEGRITY-SHA256 to the message; false when it is a
// malformed known attribute. Of a repeated attribute the first is used (section 14).
bool take(Decoding& d, const Attribute& a) {
    Message& m = d.message;
    switch (a.type) {
        case kXorMappedAddress: {
            auto endpoint = parse_address(a.value, xor_mask(m.transaction), kPortXor);
            if (endpoint && !m.mapped) m.mapped = endpoint;
            return endpoint.has_value();
        }
        case kMappedAddress: {
            auto endpoint = parse_address(a.value, Mask{}, 0);
            if (endpoint && !d.plain_mapped) d.plain_mapped = endpoint;
            return endpoint.has_value();
        }
        case kUsername:
            if (a.value.size() > kMaxUsername) return false;
            if (!m.username) m.username.emplace(a.value.begin(), a.value.end());
            return true;
        case kErrorCode: {
            auto code = parse_error_code(a.value);
            if (code && m.error_code == 0) m.error_code = *code;
            return code.has_value();
        }
        case kPadding:
            if (a.value.size() > kMaxPadding) return false;
            if (m.padding == 0) m.padding = static_cast<std::uint16_t>(a.value.size());
            return true;
        case kIntegritySha256:
            if (a.value.size() != kIntegritySize) return false;
            m.integrity_offset = a.offset;
            std::copy(a.value.begin(), a.value.end(), m.integrity.begin());
            return true;
        default:
            return true;  // not ours to understand: skipped
    }
}

bool valid_header(Bytes packet) {
    if (!looks_like_stun(packet) || packet.size() > kMaxMessageSize) return false;
    const std::size_t length = get16(&packet[2]);
    return known_type(get16(&packet[0])) && length % 4 == 0 &&
           length == packet.size() - kHeaderSize;
}

}  // namespace

std::vector<std::uint8_t> encode(const Message& message, const IntegrityKey* key) {
    check_encodable(message);
    std::vector<std::uint8_t> out;
    put16(out, static_cast<std::uint16_t>(message.type));
    put16(out, 0);  // length, set below
    put32(out, kMagicCookie);
    out.insert(out.end(), message.transaction.begin(), message.transaction.end());
    if (message.mapped) {
        put_attribute(out, kXorMappedAddress,
                      xor_address_value(*message.mapped, message.transaction));
    }
    if (message.username) {
        const auto* text = reinterpret_cast<const std::uint8_t*>(message.username->data());
        put_attribute(out, kUsername, Bytes(text, message.username->size()));
    }
    if (message.error_code != 0) {
        const std::array<std::uint8_t, 4> value = {
            0, 0, static_cast<std::uint8_t>(message.error_code / 100),
            static_cast<std::uint8_t>(message.error_code % 100)};
        put_attribute(out, kErrorCode, value);
    }
    if (message.padding != 0) {
        const std::vector<std::uint8_t> zeros(message.padding, 0);
        put_attribute(out, kPadding, zeros);
    }
    if (key != nullptr) {
        set_length(out, kIntegrityAttribute);
        put_attribute(out, kIntegritySha256, integrity_of(out, *key));
    }
    set_length(out, kFingerprintAttribute);
    std::vector<std::uint8_t> fingerprint;
    put32(fingerprint, fingerprint_of(out));
    put_attribute(out, kFingerprint, fingerprint);
    return out;
}

std::optional<Message> decode(std::span<const std::uint8_t> packet) {
    if (!valid_header(packet)) return std::nullopt;
    Decoding d;
    d.message.type = static_cast<Type>(get16(&packet[0]));
    std::copy_n(packet.begin() + 8, d.message.transaction.size(), d.message.transaction.begin());
    for (std::size_t offset = kHeaderSize; offset < packet.size();) {
        const auto a = attribute_at(packet, offset);
        if (!a) return std::nullopt;
        if (a->type == kFingerprint) {
            if (!fingerprint_verifies(packet, *a)) return std::nullopt;
            d.message.has_fingerprint = true;
        } else if (!d.message.integrity_offset && !take(d, *a)) {
            return std::nullopt;  // after MESSAGE-INTEGRITY-SHA256, everything else is ignored
        }
        offset += kAttributeHeader + padded(a->value.size());
    }
    if (!d.message.mapped) d.message.mapped = d.plain_mapped;
    return d.message;
}

bool verify_integrity(std::span<const std::uint8_t> packet, const Message& message,
                      const IntegrityKey& key) {
    if (!message.integrity_offset) return false;
    const std::size_t offset = *message.integrity_offset;
    if (offset < kHeaderSize || offset > packet.size() ||
        packet.size() - offset < kIntegrityAttribute) {
        return false;
    }
    if (get16(&packet[offset]) != kIntegritySha256 ||
        get16(&packet[offset + 2]) != kIntegritySize) {
        return false;
    }
    const Mac mac = integrity_of(packet.first(offset), key);
    return sodium_memcmp(mac.data(), &packet[offset + kAttributeHeader], mac.size()) == 0;
}

bool looks_like_stun(std::span<const std::uint8_t> packet) {
    return packet.size() >= kHeaderSize && (packet[0] & 0xC0) == 0 &&
           get32(&packet[4]) == kMagicCookie;
}

}  // namespace mesh::kb::stun
