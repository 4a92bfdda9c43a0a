#pragma once
// Runs the coordinator: opens the store, fixes the network settings, serves the agents' port,
// the STUN responder and the operator's unix socket until SIGINT/SIGTERM.
#include <string>

namespace mesh::coord {

struct ServerOptions {
    std::string state_dir = "/var/lib/mesh-coordinator";
    std::string listen = "0.0.0.0:7443";
    std::string admin_socket;  // empty = <state_dir>/admin.sock
    std::string ipv4_prefix;   // empty = stored, else 100.64.0.0/10
    std::string ipv6_prefix;   // empty = stored, else a random ULA /48
    // The STUN responder's HOST:PORT (it also takes PORT + 1); "off" = none. Agents send to the
    // coordinator's address (the one they reach --listen at) with this port.
    std::string stun_listen = "0.0.0.0:3478";
};

int run_server(const ServerOptions& options);

}  // namespace mesh::coord
