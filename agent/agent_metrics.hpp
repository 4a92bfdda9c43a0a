#pragma once
// The agent's /metrics (--metrics-listen): what it counted since it started (reconciles, maps,
// Sync streams, probes and STUN) and what its status says now (peers by path, each peer's
// handshake age and bytes). Pure: a status and counters in, metric families out.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/agent_status.hpp"
#include "agent/path_engine.hpp"
#include "kmod-bridge/metrics_text.hpp"

namespace mesh::agent {

struct AgentCounters {
    std::map<std::string, std::uint64_t> reconciles;  // by reason ("delta", "periodic", ...)
    std::uint64_t reconcile_failures = 0;             // the device refused a change
    std::uint64_t peers_added = 0;
    std::uint64_t peers_changed = 0;
    std::uint64_t peers_removed = 0;
    std::uint64_t full_maps = 0;  // map updates received, whole maps and deltas
    std::uint64_t deltas = 0;
    std::uint64_t sync_connects = 0;  // Sync streams opened; more than one = reconnects
    std::uint64_t sync_failures = 0;  // attempts that failed and streams that ended
    PathCounters paths;               // every path engine's, the running one included
};

// `now`: unix seconds, for the handshake ages.
std::vector<metrics::Family> agent_families(const AgentStatus& status,
                                            const AgentCounters& counters, std::int64_t now);

}  // namespace mesh::agent
