#pragma once
// Calls Coordinator.Leave for meshctl logout, over the coordinator's replicas as a join does
// (replica_call.hpp), each request signed with the machine key for the replica it goes to.
#include <string>

#include "agent/coordinator_list.hpp"
#include "agent/keys.hpp"
#include "agent/replica_call.hpp"

namespace mesh::agent {

// Returns once the coordinator removed the node. Throws CoordinatorFailure: NOT_FOUND when it
// no longer knows the node, UNAVAILABLE when no replica answered, or the refusal it answered.
void leave_coordinator(const CoordinatorList& coordinators, const std::string& node_id,
                       const Keys& keys, const CallRetry& retry = {});

}  // namespace mesh::agent
