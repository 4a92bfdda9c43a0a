#pragma once
// The pure parts of meshctl logout: whether the agent clears this host after the coordinator's
// answer to its Leave, and the line meshctl prints for the agent's reply.
#include <grpcpp/support/status.h>

#include <optional>
#include <string>

#include "mesh/v1/agent.pb.h"

namespace mesh::agent {

struct LogoutDecision {
    bool clear = false;    // delete this host's peers, device, state and keys
    bool removed = false;  // the node is gone from the coordinator
};

// failure: the status Leave ended with, nullopt for OK. NOT_FOUND means the coordinator no
// longer knows the node (an earlier logout whose answer was lost, or the operator removed it):
// as good as removed. Anything else keeps everything here unless `force`.
LogoutDecision decide_logout(std::optional<grpc::StatusCode> failure, bool force);

// What the agent says when it keeps the host joined: the coordinator's message, and how to
// clear the host anyway.
std::string logout_refusal(grpc::StatusCode code, const std::string& coordinator_message);

// meshctl logout's one line, for the agent's reply.
std::string render_logout_line(const v1::LogoutResponse& response);

}  // namespace mesh::agent
