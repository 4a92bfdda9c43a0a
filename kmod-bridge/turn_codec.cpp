#include "kmod-bridge/turn_codec.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/stun_wire.hpp"

namespace mesh::kb::turn {

namespace {

using namespace stun::wire;

// Attribute types (RFC 8489 section 18.3, RFC 8656 section 18).
constexpr std::uint16_t kUsername = 0x0006;
constexpr std::uint16_t kIntegrity = 0x0008;
constexpr std::uint16_t kErrorCode = 0x0009;
constexpr std::uint16_t kChannelNumber = 0x000C;
constexpr std::uint16_t kLifetime = 0x000D;
constexpr std::uint16_t kXorPeerAddress = 0x0012;
constexpr std::uint16_t kData = 0x0013;
constexpr std::uint16_t kRealm = 0x0014;
constexpr std::uint16_t kNonce = 0x0015;
constexpr std::uint16_t kXorRelayedAddress = 0x0016;
constexpr std::uint16_t kRequestedTransport = 0x0019;
constexpr std::uint16_t kDontFragment = 0x001A;
constexpr std::uint16_t kXorMappedAddress = 0x0020;
constexpr std::uint16_t kSoftware = 0x8022;
// Comprehension-required attributes a relay client may see and need not act on.
constexpr std::uint16_t kKnownIgnored[] = {
    0x0001,  // MAPPED-ADDRESS (the XOR one is read)
    0x000A,  // UNKNOWN-ATTRIBUTES (of a 420 answer; the error code says enough)
    0x0017,  // REQUESTED-ADDRESS-FAMILY
    0x0018,  // EVEN-PORT
    0x001C,  // MESSAGE-INTEGRITY-SHA256 (we use and check MESSAGE-INTEGRITY)
    0x001D,  // PASSWORD-ALGORITHM
    0x001E,  // USERHASH
    0x0022,  // RESERVATION-TOKEN
    0x0026,  // PADDING
};

constexpr std::size_t kMaxUsername = 513;
constexpr std::size_t kMaxText = 763;
constexpr std::size_t kIntegritySize = 20;
constexpr std::size_t kIntegrityAttribute = kAttributeHeader + kIntegritySize;
constexpr std::size_t kMaxData = 65535;

using Mac = std::array<std::uint8_t, kIntegritySize>;

std::uint16_t message_type(Method method, Class cls) {
    const auto m = static_cast<std::uint16_t>(method);
    const auto c = static_cast<std::uint16_t>(cls);
    return static_cast<std::uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) |
                                      ((c & 1) << 4) | ((c & 2) << 7));
}

bool known_method(std::uint16_t m) {
    switch (static_cast<Method>(m)) {
        case Method::binding:
        case Method::allocate:
        case Method::refresh:
        case Method::send:
        case Method::data:
        case Method::create_permission:
        case Method::channel_bind:
            return true;
    }
    return false;
}

// HMAC-SHA1 with the header's length field counting up to the end of MESSAGE-INTEGRITY,
// whatever `before`'s own length field says.
Mac integrity_of(Bytes before, const LongTermKey& key) {
    std::vector<std::uint8_t> input(before.begin(), before.end());
    const std::size_t length = before.size() - kHeader + kIntegrityAttribute;
    input[2] = static_cast<std::uint8_t>(length >> 8);
    input[3] = static_cast<std::uint8_t>(length);
    Mac mac{};
    unsigned int size = 0;
    if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), input.data(), input.size(),
             mac.data(), &size) == nullptr ||
        size != mac.size()) {
        throw Error("TURN: HMAC-SHA1 failed");
    }
    return mac;
}

void put_text(std::vector<std::uint8_t>& out, std::uint16_t type, const std::string& text) {
    put_attribute(out, type,
                  Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void put_u32_attribute(std::vector<std::uint8_t>& out, std::uint16_t type, std::uint32_t v) {
    std::vector<std::uint8_t> value;
    put32(value, v);
    put_attribute(out, type, value);
}

void check_text(const std::optional<std::string>& text, std::size_t max, const char* name) {
    if (text && text->size() > max) {
        throw Error(std::string("TURN encode: ") + name + " is longer than " + std::to_string(max) +
                    " bytes");
    }
}

void check_encodable(const Message& m, const LongTermKey* key) {
    check_text(m.username, kMaxUsername, "USERNAME");
    check_text(m.realm, kMaxText, "REALM");
    check_text(m.nonce, kMaxText, "NONCE");
    check_text(m.software, kMaxText, "SOFTWARE");
    if (m.error_reason.size() > kMaxText) throw Error("TURN encode: reason phrase too long");
    if (m.error_code != 0 && (m.error_code < 300 || m.error_code > 699)) {
        throw Error("TURN encode: ERROR-CODE outside 300..699");
    }
    if (m.channel && (*m.channel < kFirstChannel || *m.channel > kLastChannel)) {
        throw Error("TURN encode: channel number outside 0x4000..0x4FFF");
    }
    if (m.data && m.data->size() > kMaxData) throw Error("TURN encode: DATA over 65535 bytes");
    if (key && (!m.username || !m.realm)) {
        throw Error("TURN encode: MESSAGE-INTEGRITY needs USERNAME and REALM");
    }
}

std::optional<std::string> text_of(Bytes value, std::size_t max) {
    if (value.size() > max) return std::nullopt;
    return std::string(value.begin(), value.end());
}

// Adds one attribute met before MESSAGE-INTEGRITY; false when it is a malformed known one.
bool take(Message& m, const Attribute& a, const Mask& mask) {
    auto keep_text = [&](std::optional<std::string>& field, std::size_t max) {
        auto text = text_of(a.value, max);
        if (text && !field) field = std::move(text);
        return text.has_value();
    };
    auto keep_address = [&](std::optional<Endpoint>& field) {
        auto endpoint = parse_address(a.value, mask, kPortXor);
        if (endpoint && !field) field = endpoint;
        return endpoint.has_value();
    };
    switch (a.type) {
        case kUsername:
            return keep_text(m.username, kMaxUsername);
        case kRealm:
            return keep_text(m.realm, kMaxText);
        case kNonce:
            return keep_text(m.nonce, kMaxText);
        case kSoftware:
            return keep_text(m.software, kMaxText);
        case kXorRelayedAddress:
            return keep_address(m.relayed);
        case kXorMappedAddress:
            return keep_address(m.mapped);
        case kXorPeerAddress: {
            auto endpoint = parse_address(a.value, mask, kPortXor);
            if (endpoint) m.peers.push_back(*endpoint);
            return endpoint.has_value();
        }
        case kLifetime:
            if (a.value.size() != 4) return false;
            if (!m.lifetime) m.lifetime = get32(a.value.data());
            return true;
        case kRequestedTransport:
            if (a.value.size() != 4) return false;
            if (!m.requested_transport) m.requested_transport = a.value[0];
            return true;
        case kChannelNumber: {
            if (a.value.size() != 4) return false;
            const std::uint16_t channel = get16(a.value.data());
            if (channel < kFirstChannel || channel > kLastChannel) return false;
            if (!m.channel) m.channel = channel;
            return true;
        }
        case kData:
            if (!m.data) m.data.emplace(a.value.begin(), a.value.end());
            return true;
        case kDontFragment:
            if (!a.value.empty()) return false;
            m.dont_fragment = true;
            return true;
        case kErrorCode: {
            if (a.value.size() < 4 || a.value.size() - 4 > kMaxText) return false;
            const unsigned error_class = a.value[2] & 0x07;
            const unsigned number = a.value[3];
            if (error_class < 3 || error_class > 6 || number > 99) return false;
            if (m.error_code == 0) {
                m.error_code = static_cast<std::uint16_t>(error_class * 100 + number);
                m.error_reason.assign(a.value.begin() + 4, a.value.end());
                // coturn counts its padding into the phrase: NULs are not text.
                while (!m.error_reason.empty() && m.error_reason.back() == '\0') {
                    m.error_reason.pop_back();
                }
            }
            return true;
        }
        case kIntegrity:
            if (a.value.size() != kIntegritySize) return false;
            m.integrity_offset = a.offset;
            return true;
        default:
            if (a.type < 0x8000 && std::find(std::begin(kKnownIgnored), std::end(kKnownIgnored),
                                             a.type) == std::end(kKnownIgnored)) {
                m.unknown_required.push_back(a.type);
            }
            return true;
    }
}

}  // namespace

LongTermKey long_term_key(std::string_view username, std::string_view realm,
                          std::string_view password) {
    std::string input;
    input.reserve(username.size() + realm.size() + password.size() + 2);
    input.append(username).append(":").append(realm).append(":").append(password);
    LongTermKey key{};
    unsigned int size = 0;
    if (EVP_Digest(input.data(), input.size(), key.data(), &size, EVP_md5(), nullptr) != 1 ||
        size != key.size()) {
        OPENSSL_cleanse(input.data(), input.size());
        throw Error("TURN: MD5 is not available (OpenSSL's default provider)");
    }
    OPENSSL_cleanse(input.data(), input.size());
    return key;
}

std::vector<std::uint8_t> encode(const Message& m, const LongTermKey* key, bool fingerprint) {
    check_encodable(m, key);
    std::vector<std::uint8_t> out;
    put16(out, message_type(m.method, m.cls));
    put16(out, 0);  // length, set below
    put32(out, kCookie);
    out.insert(out.end(), m.transaction.begin(), m.transaction.end());
    if (m.requested_transport)
        put_u32_attribute(out, kRequestedTransport, std::uint32_t{*m.requested_transport} << 24);
    if (m.lifetime) put_u32_attribute(out, kLifetime, *m.lifetime);
    if (m.channel) put_u32_attribute(out, kChannelNumber, std::uint32_t{*m.channel} << 16);
    for (const auto& peer : m.peers) {
        put_attribute(out, kXorPeerAddress, xor_address_value(peer, m.transaction));
    }
    if (m.relayed)
        put_attribute(out, kXorRelayedAddress, xor_address_value(*m.relayed, m.transaction));
    if (m.mapped)
        put_attribute(out, kXorMappedAddress, xor_address_value(*m.mapped, m.transaction));
    if (m.data) put_attribute(out, kData, *m.data);
    if (m.dont_fragment) put_attribute(out, kDontFragment, {});
    if (m.error_code != 0) {
        std::vector<std::uint8_t> value = {0, 0, static_cast<std::uint8_t>(m.error_code / 100),
                                           static_cast<std::uint8_t>(m.error_code % 100)};
        value.insert(value.end(), m.error_reason.begin(), m.error_reason.end());
        put_attribute(out, kErrorCode, value);
    }
    if (m.software) put_text(out, kSoftware, *m.software);
    if (m.username) put_text(out, kUsername, *m.username);
    if (m.realm) put_text(out, kRealm, *m.realm);
    if (m.nonce) put_text(out, kNonce, *m.nonce);
    if (key != nullptr) {
        set_length(out, kIntegrityAttribute);
        put_attribute(out, kIntegrity, integrity_of(out, *key));
    }
    if (fingerprint) {
        set_length(out, kFingerprintAttribute);
        std::vector<std::uint8_t> value;
        put32(value, fingerprint_of(out));
        put_attribute(out, kFingerprintType, value);
    } else {
        set_length(out, 0);
    }
    return out;
}

std::optional<Message> decode(std::span<const std::uint8_t> packet) {
    if (packet.size() < kHeader || packet.size() > kMaxMessageSize) return std::nullopt;
    if ((packet[0] & 0xC0) != 0 || get32(&packet[4]) != kCookie) return std::nullopt;
    const std::size_t length = get16(&packet[2]);
    if (length % 4 != 0 || length != packet.size() - kHeader) return std::nullopt;
    const std::uint16_t type = get16(&packet[0]);
    const auto method = static_cast<std::uint16_t>((type & 0x000F) | ((type >> 1) & 0x0070) |
                                                   ((type >> 2) & 0x0F80));
    if (!known_method(method)) return std::nullopt;
    Message m;
    m.method = static_cast<Method>(method);
    m.cls = static_cast<Class>(((type >> 4) & 1) | ((type >> 7) & 2));
    std::copy_n(packet.begin() + 8, m.transaction.size(), m.transaction.begin());
    const Mask mask = xor_mask(m.transaction);
    for (std::size_t offset = kHeader; offset < packet.size();) {
        const auto a = attribute_at(packet, offset);
        if (!a) return std::nullopt;
        if (a->type == kFingerprintType) {
            if (!fingerprint_verifies(packet, *a)) return std::nullopt;
            m.has_fingerprint = true;
        } else if (!m.integrity_offset && !take(m, *a, mask)) {
            return std::nullopt;
        }
        offset += kAttributeHeader + padded(a->value.size());
    }
    return m;
}

bool verify_integrity(std::span<const std::uint8_t> packet, const Message& message,
                      const LongTermKey& key) {
    if (!message.integrity_offset) return false;
    const std::size_t offset = *message.integrity_offset;
    if (offset < kHeader || offset > packet.size() ||
        packet.size() - offset < kIntegrityAttribute) {
        return false;
    }
    if (get16(&packet[offset]) != kIntegrity || get16(&packet[offset + 2]) != kIntegritySize) {
        return false;
    }
    const Mac mac = integrity_of(packet.first(offset), key);
    return CRYPTO_memcmp(mac.data(), &packet[offset + kAttributeHeader], mac.size()) == 0;
}

std::optional<ChannelData> decode_channel_data(std::span<const std::uint8_t> packet) {
    if (packet.size() < 4 || (packet[0] & 0xC0) != 0x40) return std::nullopt;
    const std::uint16_t channel = get16(&packet[0]);
    const std::size_t length = get16(&packet[2]);
    if (channel < kFirstChannel || channel > kLastChannel) return std::nullopt;
    if (packet.size() < 4 + length || packet.size() > padded(4 + length)) return std::nullopt;
    return ChannelData{channel, packet.subspan(4, length)};
}

void encode_channel_data(std::uint16_t channel, std::span<const std::uint8_t> data,
                         std::vector<std::uint8_t>& out, bool stream) {
    if (channel < kFirstChannel || channel > kLastChannel) {
        throw Error("TURN: channel number outside 0x4000..0x4FFF");
    }
    if (data.size() > kMaxData) throw Error("TURN: ChannelData over 65535 bytes");
    put16(out, channel);
    put16(out, static_cast<std::uint16_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
    if (stream) out.resize(out.size() + (padded(data.size()) - data.size()), 0);
}

std::optional<std::size_t> stream_frame_size(std::span<const std::uint8_t> buffer) {
    if (buffer.size() < 4) return std::nullopt;
    const std::size_t length = get16(&buffer[2]);
    switch (buffer[0] & 0xC0) {
        case 0x00:
            return kHeader + length;  // a STUN message: its length is already a multiple of 4
        case 0x40:
            return padded(4 + length);
        default:
            return std::size_t{0};  // neither: the stream is out of step
    }
}

RestCredential rest_credential(std::string_view secret, std::int64_t expires_at,
                               std::string_view name) {
    RestCredential c;
    c.username = std::to_string(expires_at) + ":" + std::string(name);
    std::array<std::uint8_t, 20> mac{};
    unsigned int size = 0;
    if (HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(c.username.data()), c.username.size(),
             mac.data(), &size) == nullptr ||
        size != mac.size()) {
        throw Error("TURN: HMAC-SHA1 failed");
    }
    std::array<char, 4 * ((20 + 2) / 3) + 1> text{};
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), mac.data(),
                    static_cast<int>(mac.size()));
    c.password = text.data();
    return c;
}

TransactionId new_transaction() {
    TransactionId id{};
    randombytes_buf(id.data(), id.size());
    return id;
}

}  // namespace mesh::kb::turn
