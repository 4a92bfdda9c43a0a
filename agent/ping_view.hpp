#pragma once
// meshctl ping's output and exit code, from the agent's answers (PingResponse): one line per
// probe round, or one JSON object per round with --json. Pure.
#include <string>
#include <vector>

#include "mesh/v1/agent.pb.h"

namespace mesh::agent {

// "pong from b (node-id) via lan 10.0.1.3:51820 in 0.42 ms", or "no answer from b ... within
// T ms (path in use: relay)".
std::string render_ping_line(const v1::PingResponse& reply, unsigned timeout_ms);
// One line of JSON: node_id, hostname, answered, path, endpoint, rtt_ms, selected_path.
std::string render_ping_json(const v1::PingResponse& reply);

// Whether to send another round: count rounds at most; with until_direct, none after the first
// answer (every answer comes over a direct path: probes go straight to the peer's endpoints).
bool ping_again(const std::vector<v1::PingResponse>& replies, unsigned count, bool until_direct);
// 0 when some round was answered, 1 when none was.
int ping_exit_code(const std::vector<v1::PingResponse>& replies);

}  // namespace mesh::agent
