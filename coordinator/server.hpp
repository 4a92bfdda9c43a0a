#pragma once
// Runs the coordinator: opens the store, fixes the network settings, serves the agents' TLS port,
// the STUN responder, the operator's unix socket (and its TLS port when asked for), and expires
// keys and ephemeral nodes, until SIGINT/SIGTERM.
#include <cstdint>
#include <string>
#include <vector>

namespace mesh::coord {

struct ServerOptions {
    std::string state_dir = "/var/lib/mesh-coordinator";
    // Where the fleet is kept: "" = SQLite in state_dir; "etcd://H:P[,H:P...][/PREFIX]" = etcd,
    // shared with every other replica given the same (coordinator/store_url.hpp).
    std::string store;
    std::string replica_id;  // "" = host name and a random suffix (replicas on etcd)
    std::string listen = "0.0.0.0:7443";
    std::string admin_socket;  // empty = <state_dir>/admin.sock
    std::string ipv4_prefix;   // empty = stored, else 100.64.0.0/10
    std::string ipv6_prefix;   // empty = stored, else a random ULA /48
    // Container subnet pools ("auto"), at most one per family; "off" alone = none; empty =
    // 10.244.0.0/16, unless that overlaps the overlay (then none, with a warning).
    std::vector<std::string> container_pools;
    unsigned container_prefix_len = 24;   // IPv4 blocks
    unsigned container_prefix_len6 = 64;  // IPv6 blocks
    // The STUN responder's HOST:PORT (it also takes PORT + 1); "off" = none. Agents send to the
    // coordinator's address (the one they reach --listen at) with this port.
    std::string stun_listen = "0.0.0.0:3478";
    // PEM files for TLS; both empty = a self-signed pair made on first start in STATE_DIR/tls.
    std::string tls_cert;
    std::string tls_key;
    // The operator API over TLS for remote use (needs the operator credential); "" = off.
    std::string admin_listen;
    // /metrics, the fleet page and its JSON over HTTP (coordinator/web/observer.hpp); "" = off.
    std::string metrics_listen;
    std::int64_t node_key_ttl = 90 * 86400;       // seconds; 0 = keys never expire
    std::int64_t ephemeral_inactivity = 30 * 60;  // seconds
    // TURN relays for peers with no direct path (serve --turn), the file holding the secret
    // they share with the coordinator, and how long the credentials it derives last.
    std::vector<std::string> turn_servers;
    std::string turn_secret_file;
    std::string turn_tls_fingerprint;  // the turns: servers' certificate, "sha256:<hex>"
    std::int64_t turn_credential_ttl = 12 * 3600;
    std::int64_t container_grace = 86400;  // seconds; 0 = a removed host's subnet is free at once
    // Sync streams from one source address that may wait for their hello at once (StreamGate).
    std::size_t sync_waiting_per_source = 64;
};

int run_server(const ServerOptions& options);

}  // namespace mesh::coord
