// The agent's /metrics families: peers by path, per-peer gauges and counters, the counters.
#include <catch2/catch.hpp>

#include "agent/agent_metrics.hpp"

using namespace mesh;
using namespace mesh::agent;

namespace {

PeerStatus peer(const std::string& name, const std::string& path, std::int64_t handshake) {
    PeerStatus p;
    p.node_id = "n-" + name;
    p.hostname = name;
    p.path = path;
    p.last_handshake = handshake;
    p.rx_bytes = 1000;
    p.tx_bytes = 2000;
    return p;
}

bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("agent metrics: peers by path and each peer's handshake age and bytes", "[metrics]") {
    AgentStatus status;
    status.joined = true;
    status.connected = true;
    status.netmap_version = 42;
    status.peers = {peer("b", "lan", 990), peer("c", "nat-direct", 900), peer("d", "none", 0),
                    peer("e", "", 0)};
    status.peers[1].rtt_us = 2500;
    AgentCounters counters;
    const auto text = metrics::render(agent_families(status, counters, 1000));
    CHECK(has_line(text, "mesh_agent_joined 1"));
    CHECK(has_line(text, "mesh_agent_connected 1"));
    CHECK(has_line(text, "mesh_agent_map_version 42"));
    CHECK(has_line(text, "mesh_agent_peers{path=\"lan\"} 1"));
    CHECK(has_line(text, "mesh_agent_peers{path=\"nat-direct\"} 1"));
    CHECK(has_line(text, "mesh_agent_peers{path=\"none\"} 1"));
    CHECK(has_line(text, "mesh_agent_peers{path=\"relay\"} 0"));
    CHECK(has_line(text, "mesh_agent_peers{path=\"unknown\"} 1"));  // probing off
    CHECK(has_line(text, "mesh_agent_peer_handshake_age_seconds{peer=\"b\",node_id=\"n-b\"} 10"));
    CHECK(has_line(text, "mesh_agent_peer_handshake_age_seconds{peer=\"c\",node_id=\"n-c\"} 100"));
    // No handshake yet: no age sample (not a huge number or a zero that looks fresh).
    CHECK(text.find("mesh_agent_peer_handshake_age_seconds{peer=\"d\"") == std::string::npos);
    CHECK(has_line(text, "mesh_agent_peer_receive_bytes_total{peer=\"d\",node_id=\"n-d\"} 1000"));
    CHECK(has_line(text, "mesh_agent_peer_transmit_bytes_total{peer=\"d\",node_id=\"n-d\"} 2000"));
    CHECK(has_line(text, "mesh_agent_peer_rtt_seconds{peer=\"c\",node_id=\"n-c\"} 0.0025"));
    CHECK(text.find("mesh_agent_peer_rtt_seconds{peer=\"b\"") == std::string::npos);
}

TEST_CASE("agent metrics: counters by reason and kind, path engine counts", "[metrics]") {
    AgentStatus status;  // not joined
    AgentCounters c;
    c.reconciles = {{"delta", 3}, {"periodic", 7}};
    c.reconcile_failures = 1;
    c.peers_added = 2;
    c.full_maps = 1;
    c.deltas = 3;
    c.sync_connects = 2;
    c.sync_failures = 5;
    c.paths.stun_requests = 11;
    c.paths.probes_answered = 4;
    const auto text = metrics::render(agent_families(status, c, 0));
    CHECK(has_line(text, "mesh_agent_joined 0"));
    CHECK(has_line(text, "# TYPE mesh_agent_reconciles_total counter"));
    CHECK(has_line(text, "mesh_agent_reconciles_total{reason=\"delta\"} 3"));
    CHECK(has_line(text, "mesh_agent_reconciles_total{reason=\"periodic\"} 7"));
    CHECK(has_line(text, "mesh_agent_reconcile_failures_total 1"));
    CHECK(has_line(text, "mesh_agent_device_peer_changes_total{change=\"added\"} 2"));
    CHECK(has_line(text, "mesh_agent_device_peer_changes_total{change=\"removed\"} 0"));
    CHECK(has_line(text, "mesh_agent_map_updates_total{kind=\"full\"} 1"));
    CHECK(has_line(text, "mesh_agent_map_updates_total{kind=\"delta\"} 3"));
    CHECK(has_line(text, "mesh_agent_sync_connects_total 2"));
    CHECK(has_line(text, "mesh_agent_sync_failures_total 5"));
    CHECK(has_line(text, "mesh_agent_stun_requests_total 11"));
    CHECK(has_line(text, "mesh_agent_probes_answered_total 4"));
    CHECK(has_line(text, "mesh_agent_probes_sent_total 0"));
}

TEST_CASE("agent metrics: a hostname with quotes and newlines is escaped", "[metrics]") {
    AgentStatus status;
    status.peers = {peer("evil\"\n", "lan", 0)};
    const auto text = metrics::render(agent_families(status, AgentCounters{}, 0));
    CHECK(has_line(text,
                   "mesh_agent_peer_receive_bytes_total{peer=\"evil\\\"\\n\",node_id=\"n-"
                   "evil\\\"\\n\"} 1000"));
}
