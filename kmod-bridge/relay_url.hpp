#pragma once
// TURN server URLs (RFC 7065) as the operator gives them to the coordinator (`serve --turn`)
// and the coordinator hands them to agents: parsed once, the same way on both sides. Pure.
#include <cstdint>
#include <string>
#include <string_view>

namespace mesh::kb {

struct RelayUrl {
    bool tls = false;           // turns:
    std::string host;           // IPv4, IPv6 (without brackets) or a DNS name
    std::uint16_t port = 3478;  // 3478 for turn:, 5349 for turns: when not given
    bool tcp = false;           // ?transport=tcp (turns: is always TCP)

    std::string to_string() const;  // canonical: "turn:HOST:PORT[?transport=tcp]"
    bool operator==(const RelayUrl&) const = default;
};

// "turn:203.0.113.5", "turn:relay.example.com:3478?transport=tcp", "turns:[2001:db8::5]:443".
// Throws mesh::Error naming what is wrong (never echoing more than the text given).
RelayUrl parse_relay_url(std::string_view text);

}  // namespace mesh::kb
