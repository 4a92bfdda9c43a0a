#pragma once
// The operator's commands (`mesh-coordinator token ...`, `nodes ...`, `credential ...`): thin
// clients of the Admin service, on the coordinator's unix socket or, with --remote, on its TLS
// admin port (pinned by fingerprint, authorized by the operator credential).
#include <cstdint>
#include <string>
#include <vector>

namespace mesh::coord {

struct AdminTarget {
    std::string admin_socket;  // used when remote is empty
    std::string remote;        // HOST:PORT of --admin-listen
    std::string fingerprint;   // with remote: the coordinator's certificate
    std::string credential;    // with remote: mesh-op1_...
};

struct TokenCreateOptions {
    std::string ttl = "24h";
    bool reusable = false;
    std::uint32_t max_uses = 0;
    std::vector<std::string> tags;
    bool ephemeral = false;
    std::string coordinator_address;  // printed in the join command; empty = a placeholder
    bool quiet = false;               // print only the token
};

// Reads the credential from a file (first line), for --credential-file.
std::string read_credential_file(const std::string& path);

int token_create(const AdminTarget& target, const TokenCreateOptions& options);
int token_list(const AdminTarget& target, bool json);
int token_revoke(const AdminTarget& target, const std::string& token_id);
int nodes_list(const AdminTarget& target, bool json);
int nodes_remove(const AdminTarget& target, const std::string& node);
int nodes_expire(const AdminTarget& target, const std::string& node);
int credential_create(const AdminTarget& target);
// Prints the fingerprint of STATE_DIR/tls/cert.pem (or --tls-cert); no server needed.
int print_fingerprint(const std::string& cert_file);

}  // namespace mesh::coord
