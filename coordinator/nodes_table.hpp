#pragma once
// `mesh-coordinator nodes list` as a table: one row per node (with its NAT type and how many of
// the peers it reported it reaches directly), then one line per node that has peers it has no
// direct path to. Pure: the Admin service's answer in, text out.
#include <string>

#include "mesh/v1/admin.pb.h"

namespace mesh::coord {

// "none", "endpoint-independent", "endpoint-dependent (needs relay)", "unknown".
std::string nat_label(v1::NatType nat);
// "2/3": peers reached over PATH_LAN or PATH_NAT_DIRECT, of the peers reported; "-" for none.
std::string direct_label(const v1::NodeInfo& node);
std::string render_nodes_table(const v1::ListNodesResponse& response);

}  // namespace mesh::coord
