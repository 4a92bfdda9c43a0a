#pragma once
// The TURN relays the coordinator hands its nodes (issue 13): the servers' URLs as the operator
// gives them (`serve --turn URL`), and per-node TURN REST credentials under the secret the
// servers share with the coordinator (coturn's use-auth-secret / static-auth-secret). Pure.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kmod-bridge/relay_url.hpp"
#include "mesh/v1/coordinator.pb.h"

namespace mesh::coord {

using kb::parse_relay_url;
using kb::RelayUrl;

struct RelayConfig {
    std::vector<RelayUrl> servers;
    std::string secret;  // empty when there are no servers
    // The turns: servers' certificate, pinned by agents; empty = they check it against their
    // system's CAs and the URL's host name.
    std::string tls_fingerprint;
    std::int64_t credential_ttl = 12 * 3600;
};

// Throws mesh::Error for a secret no TURN server should use: shorter than 16 bytes, or with
// whitespace or control characters (coturn's config would read it differently).
void validate_relay_secret(std::string_view secret);

// The answer to a node's RelayCredentialsRequest at `now`.
v1::RelayCredentials relay_credentials(const RelayConfig& config, const std::string& node_id,
                                       std::int64_t now);

}  // namespace mesh::coord
