#pragma once
// The TURN relays the coordinator hands its nodes (issue 13): the servers' URLs as the operator
// gives them (`serve --turn URL`), and per-node TURN REST credentials under the secret the
// servers share with the coordinator (coturn's use-auth-secret / static-auth-secret). Pure.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/v1/coordinator.pb.h"

namespace mesh::coord {

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

struct RelayConfig {
    std::vector<RelayUrl> servers;
    std::string secret;  // empty when there are no servers
    std::int64_t credential_ttl = 12 * 3600;
};

// Throws mesh::Error for a secret no TURN server should use: shorter than 16 bytes, or with
// whitespace or control characters (coturn's config would read it differently).
void validate_relay_secret(std::string_view secret);

// The answer to a node's RelayCredentialsRequest at `now`.
v1::RelayCredentials relay_credentials(const RelayConfig& config, const std::string& node_id,
                                       std::int64_t now);

}  // namespace mesh::coord
