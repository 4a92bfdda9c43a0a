#pragma once
// One unary call to the coordinator with bounded retries over its replicas (Join, Leave): a
// transient failure (unreachable, timeout, a TLS handshake that failed) moves on to the next
// replica, a pass over all of them that failed backs off before the next; a refusal (any other
// status) is returned at once, since every replica shares one store and would answer the same.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <string>

#include "agent/coordinator_list.hpp"
#include "kmod-bridge/error.hpp"
#include "mesh/v1/coordinator.grpc.pb.h"

namespace mesh::agent {

// A call the coordinator refused, or that reached no replica (UNAVAILABLE), with its status.
class CoordinatorFailure : public Error {
  public:
    CoordinatorFailure(grpc::StatusCode code, const std::string& message)
        : Error(message), code_(code) {}
    grpc::StatusCode code() const { return code_; }

  private:
    grpc::StatusCode code_;
};

struct CallRetry {
    int attempts = 4;  // per replica
    std::chrono::milliseconds attempt_timeout = std::chrono::seconds(2);
    // No attempt starts that could end later: the answer reaches meshctl within its 60 s.
    std::chrono::milliseconds total = std::chrono::seconds(40);
};

// One attempt on one replica: fill the request for `replica` (its proof names its fingerprint)
// and make the call on `stub` with `context` (deadline and wait-for-ready already set).
using ReplicaAttempt = std::function<grpc::Status(
    v1::Coordinator::Stub& stub, const CoordinatorEntry& replica, grpc::ClientContext& context)>;

// coordinators: the replicas (not empty), tried from a random one on, each over TLS pinned to
// its own fingerprint. A replica presenting another certificate is not asked again; when every
// replica did, the call is refused (UNAUTHENTICATED) naming both fingerprints; with one replica
// that happens at once. Returns the index of the replica that answered OK. `name` names the call
// in log events ("join": event=join_retry) and in the message when there is no coordinator;
// `purpose` completes "could not ..." when the replicas' store has no quorum ("admit this host").
std::size_t call_replicas(const CoordinatorList& coordinators, const ReplicaAttempt& attempt,
                          const std::string& name, const std::string& purpose,
                          const CallRetry& retry = {});

}  // namespace mesh::agent
