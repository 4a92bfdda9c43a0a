#pragma once
// The gRPC channel to the coordinator, tuned so that a coordinator that comes back is found
// within seconds (gRPC's default reconnect backoff grows to two minutes) and a dead connection
// is noticed by keepalive pings.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace mesh::agent {

std::shared_ptr<grpc::Channel> coordinator_channel(const std::string& address);

// "host:port" with a non-empty host and a port 1..65535; throws mesh::Error otherwise.
void validate_coordinator_address(const std::string& address);

}  // namespace mesh::agent
