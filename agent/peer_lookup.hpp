#pragma once
// Which peer of the map an operator means (meshctl ping PEER): by hostname, node id, or an
// address inside one of its allowed IPs (its overlay addresses, its container subnet). Pure.
#include <optional>
#include <string>

#include "agent/netmap.hpp"

namespace mesh::agent {

// The node id, or nullopt when no peer matches. A node id or an exact hostname wins over an
// address; two peers with the same hostname match neither (the operator must use the id).
std::optional<std::string> find_peer(const NetMap& map, const std::string& query);

}  // namespace mesh::agent
