#pragma once
// What Agent::status() returns: this host in the mesh and each peer as the device and the path
// engine see them. Plain data, shared by the local API, meshctl's views and /metrics.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/coordinator_list.hpp"
#include "agent/netmap.hpp"

namespace mesh::agent {

struct PeerStatus {
    std::string node_id;
    std::string hostname;
    Key public_key;
    std::vector<IpPrefix> allowed_ips;
    std::optional<Endpoint> endpoint;
    std::int64_t last_handshake = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_bytes = 0;
    bool ready = false;
    std::string path;  // path_kind_name(); "" when probing is off
    std::uint32_t rtt_us = 0;
    std::vector<Endpoint> candidates;
    std::vector<IpPrefix> container_subnets;  // routed to the peer
};

struct AgentStatus {
    bool joined = false;
    std::string node_id;
    std::string hostname;
    std::vector<IpPrefix> addresses;
    CoordinatorList coordinators;  // every replica, in the join's order
    std::size_t current = 0;       // the one the Sync stream is on (or was last tried)
    bool connected = false;
    bool down = false;  // meshctl down
    std::uint64_t netmap_version = 0;
    std::string interface_name;
    std::string driver;
    std::optional<Key> public_key;
    std::vector<PeerStatus> peers;
    std::string last_error;
    std::string nat_type = "unknown";
    std::optional<Endpoint> reflexive;
    std::vector<Endpoint> candidates;
    std::vector<std::string> tags;
    std::int64_t key_expires_at = 0;
    bool ipv6_disabled = false;
    std::vector<IpPrefix> container_subnets;     // this host's
    std::string cni_config;                      // the conflist's path; "" = none written
    std::vector<std::string> container_refused;  // subnets left out, and why
    // The TURN relay: "allocated ADDRESS via SERVER", "allocating via SERVER", "failed: ...",
    // "offered, not needed" (credentials, no peer needs it yet), "" = none offered.
    std::string relay;
};

}  // namespace mesh::agent
