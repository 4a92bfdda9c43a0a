#pragma once
// Calls Coordinator.Join with bounded retries over the coordinator's replicas (replica_call.hpp):
// a refusal (bad token, bad input) is returned at once.
#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "agent/coordinator_list.hpp"
#include "agent/keys.hpp"
#include "agent/netmap.hpp"
#include "agent/replica_call.hpp"

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

// The names joins have for the failure and the retries of replica_call.hpp.
using JoinFailure = CoordinatorFailure;
using JoinRetry = CallRetry;

// coordinators: the replicas, as call_replicas (replica_call.hpp) tries them; each request's
// machine signature names the replica it is sent to.
JoinResult join_coordinator(const CoordinatorList& coordinators, const std::string& token,
                            const std::string& hostname, const Keys& keys,
                            const std::vector<std::string>& endpoints,
                            const std::string& container_subnet = {}, const JoinRetry& retry = {});

}  // namespace mesh::agent
