#pragma once
// The bytes an agent signs with its machine key to open a Sync stream (see Hello in
// mesh/v1/coordinator.proto). Shared so both sides build them identically.
#include <cstdint>
#include <string>

namespace mesh::v1 {

inline std::string sync_proof_message(const std::string& node_id, std::int64_t timestamp) {
    return "mesh-sync-v1\n" + node_id + "\n" + std::to_string(timestamp);
}

}  // namespace mesh::v1
