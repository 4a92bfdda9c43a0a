#pragma once
// Conversion between the coordinator's domain types and the wire types, done once, here.
#include <grpcpp/grpcpp.h>

#include "coordinator/model.hpp"
#include "coordinator/status_error.hpp"
#include "mesh/v1/coordinator.pb.h"

namespace mesh::coord {

v1::Peer to_proto(const NodeRecord& node);
v1::NetworkSettings to_proto(const NetworkConfig& network);
// A node as its peers see it, serialized: what the map caches per node (MeshMap::PeerEncoder).
std::string encode_peer(const NodeRecord& node);

// A 32-byte key from a bytes field; throws StatusError(invalid_argument) naming the field.
Key key_from_bytes(const std::string& bytes, const char* field);
// Endpoint strings from the wire: at most kMaxEndpoints, each an address with a port that
// endpoint_refusal accepts (no loopback, multicast, overlay ...); duplicates are dropped. Throws
// StatusError(invalid_argument) naming the endpoint by position, never echoing it.
// EndpointReport.relay: nullopt when empty; throws StatusError(invalid_argument) like
// endpoints_from_proto for one that is malformed or refused.
std::optional<Endpoint> relay_from_proto(const std::string& relay, const NetworkConfig& network);
// EndpointReport.nat: a value this coordinator does not know (a newer agent's) is unknown (0).
int nat_from_proto(int nat);
std::vector<Endpoint> endpoints_from_proto(
    const google::protobuf::RepeatedPtrField<std::string>& endpoints, const NetworkConfig& network);

// A PathReport from the wire: at most kMaxPathPeers peers, each listed once with a node id of at
// most 64 characters; endpoints are empty or parse. Values of the enums this coordinator does
// not know (a newer agent's) read as unknown. Throws StatusError(invalid_argument).
constexpr int kMaxPathPeers = 100000;  // one per peer: the designed mesh size
NodePaths paths_from_proto(const v1::PathReport& report);
v1::NatType to_proto(NodePaths::Nat nat);
v1::PeerPath to_proto(const PeerPath& path);

grpc::Status to_grpc(const StatusError& error);

}  // namespace mesh::coord
