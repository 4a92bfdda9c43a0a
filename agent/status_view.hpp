#pragma once
// Renders the agent's status for people (a table) and programs (JSON). Pure: the same status
// gives the same text.
#include <cstdint>
#include <string>

#include "mesh/v1/agent.pb.h"

namespace mesh::agent {

std::string render_status_table(const v1::StatusResponse& status, std::int64_t now);
// The same schema as `mesh-coordinator nodes list --json` for the same things (snake_case keys,
// numbers as numbers, every field present).
std::string render_status_json(const v1::StatusResponse& status);
// meshctl status's exit code: 0 joined and connected, 2 not joined (or removed), 3 joined but
// not connected to the coordinator.
int status_exit_code(const v1::StatusResponse& status);
std::string human_bytes(std::uint64_t bytes);
std::string human_ago(std::int64_t then, std::int64_t now);

}  // namespace mesh::agent
