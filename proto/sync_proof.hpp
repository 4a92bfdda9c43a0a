#pragma once
// The bytes an agent signs with its machine key (see Hello, JoinRequest and LeaveRequest in
// mesh/v1/coordinator.proto). Shared so both sides build them identically.
//
// Both name the coordinator they are meant for: its certificate fingerprint ("sha256:<hex>",
// lower case), which the agent pins and the coordinator knows of itself. A signature made for one
// coordinator therefore verifies at no other: a second coordinator cannot pass another's
// challenge to an agent and relay the answer (security review, finding 3).
#include <string>

namespace mesh::v1 {

constexpr std::size_t kChallengeBytes = 32;

inline std::string sync_proof_message(const std::string& coordinator_fingerprint,
                                      const std::string& node_id, const std::string& challenge) {
    return "mesh-sync-v3\n" + coordinator_fingerprint + "\n" + node_id + "\n" + challenge;
}

// What a JoinRequest's machine_signature signs: the coordinator, the token and the WireGuard key.
inline std::string join_proof_message(const std::string& coordinator_fingerprint,
                                      const std::string& token, const std::string& wireguard_key) {
    return "mesh-join-v2\n" + coordinator_fingerprint + "\n" + token + "\n" + wireguard_key;
}

// What a LeaveRequest's signature signs: the coordinator and the node leaving it.
inline std::string leave_proof_message(const std::string& coordinator_fingerprint,
                                       const std::string& node_id) {
    return "mesh-leave-v1\n" + coordinator_fingerprint + "\n" + node_id;
}

}  // namespace mesh::v1
