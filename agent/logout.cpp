#include "agent/logout.hpp"

namespace mesh::agent {

LogoutDecision decide_logout(std::optional<grpc::StatusCode> failure, bool force) {
    if (!failure) return {true, true};
    if (*failure == grpc::StatusCode::NOT_FOUND) return {true, true};
    return {force, false};
}

std::string logout_refusal(grpc::StatusCode code, const std::string& coordinator_message) {
    const std::string keep =
        "; nothing changed on this host (`meshctl logout --force` clears it anyway, leaving the "
        "node in the mesh until the operator runs `mesh-coordinator nodes remove`)";
    if (code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return "the coordinator is unreachable, so the node was not removed: " +
               coordinator_message + keep;
    }
    return "the coordinator refused to remove this node: " + coordinator_message + keep;
}

std::string render_logout_line(const v1::LogoutResponse& response) {
    const std::string who = response.hostname() + " (" + response.node_id() + ")";
    if (response.removed()) {
        return "logged out: " + who +
               " removed from the mesh; this host is not joined (meshctl join joins again)\n";
    }
    return "cleared this host without removing " + who +
           " from the mesh (the coordinator said: " + response.coordinator_error() +
           "); ask the operator to run `mesh-coordinator nodes remove " + response.node_id() +
           "`\n";
}

}  // namespace mesh::agent
