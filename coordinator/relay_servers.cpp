#include "coordinator/relay_servers.hpp"

#include <cctype>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/turn_codec.hpp"

namespace mesh::coord {

void validate_relay_secret(std::string_view secret) {
    if (secret.size() < 16) {
        throw Error(
            "the TURN secret is shorter than 16 bytes; use a long random one (e.g. "
            "openssl rand -hex 32) in the coordinator's and the TURN servers' config");
    }
    for (unsigned char c : secret) {
        if (c <= ' ' || c == 0x7f) {
            throw Error(
                "the TURN secret holds whitespace or a control character, which coturn's "
                "static-auth-secret would read differently");
        }
    }
}

v1::RelayCredentials relay_credentials(const RelayConfig& config, const std::string& node_id,
                                       std::int64_t now) {
    v1::RelayCredentials out;
    if (config.servers.empty()) return out;
    const std::int64_t expires_at = now + config.credential_ttl;
    const auto credential = kb::turn::rest_credential(config.secret, expires_at, node_id);
    out.set_expires_at(expires_at);
    for (const auto& server : config.servers) {
        auto* s = out.add_servers();
        s->set_url(server.to_string());
        s->set_username(credential.username);
        s->set_password(credential.password);
        if (server.tls) s->set_tls_fingerprint(config.tls_fingerprint);
    }
    return out;
}

}  // namespace mesh::coord
