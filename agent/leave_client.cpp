#include "agent/leave_client.hpp"

#include "mesh/v1/coordinator.grpc.pb.h"
#include "sync_proof.hpp"

namespace mesh::agent {

void leave_coordinator(const CoordinatorList& coordinators, const std::string& node_id,
                       const Keys& keys, const CallRetry& retry) {
    call_replicas(
        coordinators,
        [&](v1::Coordinator::Stub& stub, const CoordinatorEntry& entry,
            grpc::ClientContext& context) {
            v1::LeaveRequest request;
            request.set_node_id(node_id);
            // Names the replica it is sent to: a signature made for one verifies at no other.
            request.set_signature(keys.sign(v1::leave_proof_message(entry.fingerprint, node_id)));
            v1::LeaveResponse response;
            return stub.Leave(&context, request, &response);
        },
        "leave", "remove this node", retry);
}

}  // namespace mesh::agent
