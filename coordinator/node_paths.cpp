#include "coordinator/node_paths.hpp"

#include <set>

namespace mesh::coord {

const char* nat_name(NodePaths::Nat nat) {
    switch (nat) {
        case NodePaths::Nat::none:
            return "none";
        case NodePaths::Nat::endpoint_independent:
            return "endpoint-independent";
        case NodePaths::Nat::endpoint_dependent:
            return "endpoint-dependent";
        case NodePaths::Nat::unknown:
            break;
    }
    return "unknown";
}

PathChanges path_changes(const std::optional<NodePaths>& before, const NodePaths& after) {
    PathChanges changes;
    changes.nat_changed = (before ? before->nat : NodePaths::Nat::unknown) != after.nat;
    std::set<std::string> had_none;
    if (before) {
        for (const auto& peer : before->peers) {
            if (peer.kind == PeerPath::Kind::none) had_none.insert(peer.node_id);
        }
    }
    for (const auto& peer : after.peers) {
        if (peer.kind == PeerPath::Kind::none && !had_none.contains(peer.node_id)) {
            changes.lost_direct_path.push_back(peer.node_id);
        }
    }
    return changes;
}

}  // namespace mesh::coord
