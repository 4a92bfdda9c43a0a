#pragma once
// The operator's commands (`mesh-coordinator token ...`, `mesh-coordinator nodes ...`): thin
// clients of the Admin service on the coordinator's unix socket.
#include <cstdint>
#include <string>

namespace mesh::coord {

struct TokenCreateOptions {
    std::string ttl = "24h";
    bool reusable = false;
    std::uint32_t max_uses = 0;
    std::string coordinator_address;  // printed in the join command; empty = a placeholder
    bool quiet = false;               // print only the token
};

int token_create(const std::string& admin_socket, const TokenCreateOptions& options);
int token_list(const std::string& admin_socket);
int nodes_list(const std::string& admin_socket, bool json);
int nodes_remove(const std::string& admin_socket, const std::string& node);

}  // namespace mesh::coord
