#pragma once
// TURN (RFC 8656) messages as a relay client exchanges them with a TURN server (coturn):
// Allocate, Refresh, CreatePermission and ChannelBind requests and their answers, Send and Data
// indications, ChannelData frames, and the long-term credential mechanism (RFC 8489 section
// 9.2: MESSAGE-INTEGRITY, HMAC-SHA1 under MD5(username:realm:password)). Also the TURN REST
// credentials a coordinator hands out for a server run with coturn's use-auth-secret (username
// "EXPIRY:NAME", password base64(HMAC-SHA1(secret, username))). Pure: bytes in, bytes out;
// decode is bounded by the packet and never throws.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::kb::turn {

using TransactionId = std::array<std::uint8_t, 12>;
using LongTermKey = std::array<std::uint8_t, 16>;  // MD5(username ":" realm ":" password)

enum class Method : std::uint16_t {
    binding = 0x001,
    allocate = 0x003,
    refresh = 0x004,
    send = 0x006,
    data = 0x007,
    create_permission = 0x008,
    channel_bind = 0x009,
};
enum class Class : std::uint8_t { request = 0, indication = 1, success = 2, error = 3 };

// decode refuses larger messages: a relay carries datagrams of at most the mesh MTU (9000).
constexpr std::size_t kMaxMessageSize = 16384;
constexpr std::uint16_t kFirstChannel = 0x4000;  // RFC 8656 section 12: 0x4000..0x4FFF
constexpr std::uint16_t kLastChannel = 0x4FFF;
constexpr std::uint8_t kTransportUdp = 17;  // REQUESTED-TRANSPORT

struct Message {
    Method method = Method::binding;
    Class cls = Class::request;
    TransactionId transaction{};
    std::optional<std::string> username;              // USERNAME, at most 513 bytes
    std::optional<std::string> realm;                 // REALM, at most 763 bytes
    std::optional<std::string> nonce;                 // NONCE, at most 763 bytes
    std::optional<std::string> software;              // SOFTWARE, at most 763 bytes
    std::optional<std::uint32_t> lifetime;            // LIFETIME, seconds
    std::optional<std::uint8_t> requested_transport;  // REQUESTED-TRANSPORT's protocol
    std::optional<Endpoint> relayed;                  // XOR-RELAYED-ADDRESS
    std::optional<Endpoint> mapped;                   // XOR-MAPPED-ADDRESS
    std::vector<Endpoint> peers;                      // XOR-PEER-ADDRESS, each one
    std::optional<std::uint16_t> channel;             // CHANNEL-NUMBER
    std::optional<std::vector<std::uint8_t>> data;    // DATA
    bool dont_fragment = false;                       // DONT-FRAGMENT
    std::uint16_t error_code = 0;                     // ERROR-CODE: 300..699, 0 = absent
    std::string error_reason;                         // its reason phrase (at most 763 bytes)
    // Filled by decode: MESSAGE-INTEGRITY's offset within the packet when present, and whether
    // a FINGERPRINT (which verified) was there. Comprehension-required attributes it does not
    // know (below 0x8000) are listed, as a 420 answer would name them.
    std::optional<std::size_t> integrity_offset;
    bool has_fingerprint = false;
    std::vector<std::uint16_t> unknown_required;

    bool operator==(const Message&) const = default;
};

LongTermKey long_term_key(std::string_view username, std::string_view realm,
                          std::string_view password);

// Serialises; with a key, appends MESSAGE-INTEGRITY (HMAC-SHA1, with the header's length
// counting up to and including it); then FINGERPRINT. Throws mesh::Error for what decode would
// refuse (a text attribute too long, an error_code outside 300..699, a channel outside
// 0x4000..0x4FFF, DATA over 65535 bytes), and for an integrity key without username and realm.
std::vector<std::uint8_t> encode(const Message& message, const LongTermKey* key = nullptr,
                                 bool fingerprint = true);

// One message, or nullopt for anything malformed: a header that is not STUN's, a length that
// does not match, an attribute running past the end, a known attribute of the wrong size, a
// FINGERPRINT that does not verify or is not last. Attributes after MESSAGE-INTEGRITY other
// than FINGERPRINT are ignored (RFC 8489 section 14.5). Of a repeated attribute the first is
// kept (XOR-PEER-ADDRESS: all).
std::optional<Message> decode(std::span<const std::uint8_t> packet);

// Whether the message's MESSAGE-INTEGRITY verifies with `key` (constant-time comparison).
bool verify_integrity(std::span<const std::uint8_t> packet, const Message& message,
                      const LongTermKey& key);

// ChannelData (RFC 8656 section 12.4): channel number, length, data; over a stream transport
// padded to 4 bytes. decode_channel_data takes exactly one frame (over UDP: the datagram; the
// padding, if any, is allowed) and returns its channel and data, or nullopt.
struct ChannelData {
    std::uint16_t channel = 0;
    std::span<const std::uint8_t> data;
};
std::optional<ChannelData> decode_channel_data(std::span<const std::uint8_t> packet);
// Appends one frame to `out` (padded to 4 bytes when `stream`). Throws mesh::Error for a
// channel outside 0x4000..0x4FFF or data over 65535 bytes.
void encode_channel_data(std::uint16_t channel, std::span<const std::uint8_t> data,
                         std::vector<std::uint8_t>& out, bool stream = false);
// How many bytes the frame starting `buffer` takes on a stream (header, data and padding; a
// STUN message: its header and length), or nullopt while fewer than 4 bytes are there.
std::optional<std::size_t> stream_frame_size(std::span<const std::uint8_t> buffer);

// TURN REST credentials (draft-uberti-behave-turn-rest, coturn's use-auth-secret).
struct RestCredential {
    std::string username;  // "EXPIRY:NAME", EXPIRY in unix seconds
    std::string password;  // base64(HMAC-SHA1(secret, username))
};
RestCredential rest_credential(std::string_view secret, std::int64_t expires_at,
                               std::string_view name);

// A new random transaction id.
TransactionId new_transaction();

}  // namespace mesh::kb::turn
