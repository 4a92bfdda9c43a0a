#pragma once
// The bytes an agent signs with its machine key (see Hello and JoinRequest in
// mesh/v1/coordinator.proto). Shared so both sides build them identically.
#include <string>

namespace mesh::v1 {

constexpr std::size_t kChallengeBytes = 32;

inline std::string sync_proof_message(const std::string& node_id, const std::string& challenge) {
    return "mesh-sync-v2\n" + node_id + "\n" + challenge;
}

// What a JoinRequest's machine_signature signs: the token and the WireGuard key it brings.
inline std::string join_proof_message(const std::string& token, const std::string& wireguard_key) {
    return "mesh-join-v1\n" + token + "\n" + wireguard_key;
}

}  // namespace mesh::v1
