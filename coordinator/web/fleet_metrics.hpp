#pragma once
// The coordinator's fleet gauges, computed at scrape time from the Admin service's node list:
// nodes by state, connected streams, pairs by path kind. Pure: the answer in, families out.
#include <map>
#include <string>
#include <vector>

#include "kmod-bridge/metrics_text.hpp"
#include "mesh/v1/admin.pb.h"

namespace mesh::coord {

// A node's state as the registry knows it: "expired" (out of every map), "online" (a Sync
// stream open here or on another replica), "offline".
const char* node_state(const v1::NodeInfo& node);

// Every unordered pair of non-expired nodes, by the better of the two sides' reported paths
// (lan > nat-direct > relay > none > probing; "probing" when neither side reported the other).
std::map<std::string, int> pairs_by_kind(const v1::ListNodesResponse& nodes);

std::vector<metrics::Family> fleet_families(const v1::ListNodesResponse& nodes);

}  // namespace mesh::coord
