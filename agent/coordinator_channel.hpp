#pragma once
// The gRPC channel to the coordinator: TLS pinned to the coordinator's certificate fingerprint,
// tuned so that a coordinator that comes back is found within seconds (gRPC's default reconnect
// backoff grows to two minutes) and a dead connection is noticed by keepalive pings.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "tls_pin.hpp"

namespace mesh::agent {

// `observed` (optional) records the certificate the coordinator presented, for error messages.
std::shared_ptr<grpc::Channel> coordinator_channel(
    const std::string& address, const std::string& fingerprint,
    std::shared_ptr<tls::PinObservation> observed = nullptr);

}  // namespace mesh::agent
