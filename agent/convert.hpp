#pragma once
// Wire types <-> the agent's domain types, converted once at the boundary. Anything malformed
// from the coordinator throws mesh::Error (the agent then drops the stream and resyncs).
#include "agent/netmap.hpp"
#include "agent/path_engine.hpp"
#include "mesh/v1/agent_state.pb.h"
#include "mesh/v1/coordinator.pb.h"

namespace mesh::agent {

PeerInfo from_proto(const v1::Peer& peer);
v1::Peer to_proto(const PeerInfo& peer);
NetworkSettings from_proto(const v1::NetworkSettings& network);
v1::NetworkSettings to_proto(const NetworkSettings& network);
MapUpdate from_proto(const v1::NetMap& map);
MapUpdate from_proto(const v1::NetMapDelta& delta);
v1::NetMap to_proto(const NetMap& map);
v1::PathReport to_proto(const PathReport& report);
v1::NatType to_proto(NatType nat);

}  // namespace mesh::agent
