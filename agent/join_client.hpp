#pragma once
// Calls Coordinator.Join with bounded retries: transient failures (unreachable, timeout) are
// retried with backoff a few times; refusals (bad token, bad input) are returned at once.
#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "agent/keys.hpp"
#include "agent/netmap.hpp"
#include "kmod-bridge/error.hpp"

namespace mesh::agent {

struct JoinResult {
    std::string node_id;
    std::string hostname;
    std::vector<IpPrefix> addresses;
    NetworkSettings network;
    std::vector<std::string> tags;
    std::int64_t key_expires_at = 0;
    std::vector<IpPrefix> container_subnets;
};

class JoinFailure : public Error {
  public:
    JoinFailure(grpc::StatusCode code, const std::string& message) : Error(message), code_(code) {}
    grpc::StatusCode code() const { return code_; }

  private:
    grpc::StatusCode code_;
};

struct JoinRetry {
    int attempts = 4;
    std::chrono::milliseconds attempt_timeout = std::chrono::seconds(2);
};

// fingerprint: the coordinator certificate to pin (canonical "sha256:<hex>"). A coordinator
// presenting another one is refused at once (UNAUTHENTICATED), naming both fingerprints.
JoinResult join_coordinator(const std::string& coordinator, const std::string& fingerprint,
                            const std::string& token, const std::string& hostname, const Keys& keys,
                            const std::vector<std::string>& endpoints,
                            const std::string& container_subnet = {}, const JoinRetry& retry = {});

}  // namespace mesh::agent
