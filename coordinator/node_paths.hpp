#pragma once
// What a new path report says that the previous one did not: the events worth a log line (the
// NAT type changed, a peer lost its direct path). Pure.
#include <optional>
#include <string>
#include <vector>

#include "coordinator/model.hpp"

namespace mesh::coord {

// "unknown", "none", "endpoint-independent", "endpoint-dependent".
const char* nat_name(NodePaths::Nat nat);

struct PathChanges {
    bool nat_changed = false;                   // no previous report counts as unknown
    std::vector<std::string> lost_direct_path;  // peers whose path is now none, in report order
};

PathChanges path_changes(const std::optional<NodePaths>& before, const NodePaths& after);

}  // namespace mesh::coord
