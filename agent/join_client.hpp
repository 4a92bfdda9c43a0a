#pragma once
// Calls Coordinator.Join with bounded retries over the coordinator's replicas: a transient failure
// (unreachable, timeout, a TLS handshake that failed) moves on to the next replica, a pass over all
// of them that failed backs off before the next; a refusal (bad token, bad input: any other
// status) is returned at once, since every replica shares one store and would answer the same.
#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "agent/coordinator_list.hpp"
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
    std::size_t replica = 0;  // the entry of the coordinator list that answered
};

class JoinFailure : public Error {
  public:
    JoinFailure(grpc::StatusCode code, const std::string& message) : Error(message), code_(code) {}
    grpc::StatusCode code() const { return code_; }

  private:
    grpc::StatusCode code_;
};

struct JoinRetry {
    int attempts = 4;  // per replica
    std::chrono::milliseconds attempt_timeout = std::chrono::seconds(2);
    // No attempt starts that could end later: the answer reaches meshctl within its 60 s.
    std::chrono::milliseconds total = std::chrono::seconds(40);
};

// coordinators: the replicas (not empty), tried from a random one on, each over TLS pinned to
// its own fingerprint, which its request's machine signature also names. A replica presenting
// another certificate is not asked again; when every replica did, the join is refused
// (UNAUTHENTICATED) naming both fingerprints; with one replica that happens at once.
JoinResult join_coordinator(const CoordinatorList& coordinators, const std::string& token,
                            const std::string& hostname, const Keys& keys,
                            const std::vector<std::string>& endpoints,
                            const std::string& container_subnet = {}, const JoinRetry& retry = {});

}  // namespace mesh::agent
