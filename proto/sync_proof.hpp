#pragma once
// The bytes an agent signs with its machine key to open a Sync stream (see Hello in
// mesh/v1/coordinator.proto): the stream's fresh challenge, bound to the node id. Shared so both
// sides build them identically.
#include <string>

namespace mesh::v1 {

constexpr std::size_t kChallengeBytes = 32;

inline std::string sync_proof_message(const std::string& node_id, const std::string& challenge) {
    return "mesh-sync-v2\n" + node_id + "\n" + challenge;
}

}  // namespace mesh::v1
