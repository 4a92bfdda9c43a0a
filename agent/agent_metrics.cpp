#include "agent/agent_metrics.hpp"

#include <algorithm>

namespace mesh::agent {

namespace {

using metrics::Family;

Family gauge(std::string name, std::string help, double value) {
    return {std::move(name), std::move(help), Family::Type::gauge, {{{}, value}}, {}};
}

Family counter(std::string name, std::string help, std::uint64_t value) {
    return {std::move(name),
            std::move(help),
            Family::Type::counter,
            {{{}, static_cast<double>(value)}},
            {}};
}

Family labelled(std::string name, std::string help, Family::Type type, const std::string& label,
                const std::map<std::string, double>& values) {
    Family f{std::move(name), std::move(help), type, {}, {}};
    for (const auto& [value, count] : values) f.samples.push_back({{{label, value}}, count});
    return f;
}

// Every kind always present (0 included), so an alert on a kind has a series to watch.
std::map<std::string, double> peers_by_path(const AgentStatus& status) {
    std::map<std::string, double> out{{"lan", 0},  {"nat-direct", 0}, {"relay", 0},
                                      {"none", 0}, {"probing", 0},    {"unknown", 0}};
    for (const auto& p : status.peers) ++out[p.path.empty() ? "unknown" : p.path];
    return out;
}

metrics::Labels peer_labels(const PeerStatus& p) {
    return {{"peer", p.hostname}, {"node_id", p.node_id}};
}

std::vector<Family> peer_families(const AgentStatus& status, std::int64_t now) {
    auto family = [](const char* name, const char* help, Family::Type type) {
        return Family{name, help, type, {}, {}};
    };
    auto age = family("mesh_agent_peer_handshake_age_seconds",
                      "Seconds since the last WireGuard handshake with the peer (peers with one)",
                      Family::Type::gauge);
    auto rx = family("mesh_agent_peer_receive_bytes_total", "Bytes received from the peer",
                     Family::Type::counter);
    auto tx = family("mesh_agent_peer_transmit_bytes_total", "Bytes sent to the peer",
                     Family::Type::counter);
    auto rtt = family("mesh_agent_peer_rtt_seconds",
                      "Round trip of the last answered path probe to the peer (peers with one)",
                      Family::Type::gauge);
    for (const auto& p : status.peers) {
        auto labels = peer_labels(p);
        if (p.last_handshake > 0) {
            age.samples.push_back(
                {labels, static_cast<double>(std::max<std::int64_t>(0, now - p.last_handshake))});
        }
        rx.samples.push_back({labels, static_cast<double>(p.rx_bytes)});
        tx.samples.push_back({labels, static_cast<double>(p.tx_bytes)});
        if (p.rtt_us > 0) rtt.samples.push_back({labels, p.rtt_us / 1e6});
    }
    return {age, rx, tx, rtt};
}

std::vector<Family> counter_families(const AgentCounters& c) {
    std::map<std::string, double> reconciles;
    for (const auto& [reason, n] : c.reconciles) reconciles[reason] = static_cast<double>(n);
    const auto& p = c.paths;
    return {
        labelled("mesh_agent_reconciles_total",
                 "Passes that made the device equal to the map, by what started them",
                 Family::Type::counter, "reason", reconciles),
        counter("mesh_agent_reconcile_failures_total",
                "Reconciles the device refused (tried again at the next one)",
                c.reconcile_failures),
        labelled("mesh_agent_device_peer_changes_total",
                 "Peers the reconciles changed on the device", Family::Type::counter, "change",
                 {{"added", static_cast<double>(c.peers_added)},
                  {"changed", static_cast<double>(c.peers_changed)},
                  {"removed", static_cast<double>(c.peers_removed)}}),
        labelled(
            "mesh_agent_map_updates_total", "Map updates from the coordinator the agent applied",
            Family::Type::counter, "kind",
            {{"full", static_cast<double>(c.full_maps)}, {"delta", static_cast<double>(c.deltas)}}),
        counter("mesh_agent_sync_connects_total",
                "Sync streams opened to a coordinator replica (more than one: reconnects)",
                c.sync_connects),
        counter("mesh_agent_sync_failures_total",
                "Sync attempts that failed and streams that ended", c.sync_failures),
        counter("mesh_agent_stun_requests_total", "STUN binding requests sent", p.stun_requests),
        counter("mesh_agent_stun_answers_total", "STUN answers matched to a request",
                p.stun_answers),
        counter("mesh_agent_probes_sent_total",
                "Authenticated path probes sent to peers' candidates (meshctl ping's too)",
                p.probes_sent),
        counter("mesh_agent_probe_answers_total", "Verified answers to this host's path probes",
                p.probe_answers),
        counter("mesh_agent_probes_answered_total", "Peers' path probes this host answered",
                p.probes_answered),
    };
}

}  // namespace

std::vector<Family> agent_families(const AgentStatus& status, const AgentCounters& counters,
                                   std::int64_t now) {
    std::vector<Family> out{
        gauge("mesh_agent_joined", "1 when this host is joined to a mesh", status.joined ? 1 : 0),
        gauge("mesh_agent_connected", "1 while a Sync stream to a coordinator replica is open",
              status.connected ? 1 : 0),
        gauge("mesh_agent_down", "1 after meshctl down (until meshctl up)", status.down ? 1 : 0),
        gauge("mesh_agent_map_version", "The version of the map the device follows",
              static_cast<double>(status.netmap_version)),
        labelled("mesh_agent_peers", "Peers by the path in use", Family::Type::gauge, "path",
                 peers_by_path(status)),
    };
    for (auto& f : peer_families(status, now)) out.push_back(std::move(f));
    for (auto& f : counter_families(counters)) out.push_back(std::move(f));
    return out;
}

}  // namespace mesh::agent
