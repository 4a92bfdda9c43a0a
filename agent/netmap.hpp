#pragma once
// The agent's view of the network map, and the pure rules for applying the coordinator's full
// maps and deltas to it.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/key.hpp"

namespace mesh::agent {

using kb::Endpoint;
using kb::IpAddress;
using kb::IpPrefix;
using kb::Key;

struct PeerInfo {
    std::string node_id;
    std::string hostname;
    Key public_key;
    std::vector<IpPrefix> allowed_ips;
    std::vector<Endpoint> endpoints;
    std::uint64_t key_version = 0;  // orders a pair by age (see Peer.key_version in the proto)
    std::vector<std::string> tags;
    std::int64_t key_expires_at = 0;  // 0 = never
    // The host's container subnets (at most one per family), routed to it over the mesh when
    // they pass the checks of container_plan.hpp.
    std::vector<IpPrefix> container_subnets;
    // Its TURN relayed address: where it takes relayed traffic when no direct path works.
    std::optional<Endpoint> relay_endpoint;
    // Its NAT maps per destination (it reported so): no direct path to it is likely, so it is
    // relayed to at once while a direct one is looked for.
    bool nat_endpoint_dependent = false;

    bool operator==(const PeerInfo&) const = default;
};

struct NetworkSettings {
    IpPrefix ipv4_prefix = IpPrefix::parse("100.64.0.0/10");
    IpPrefix ipv6_prefix = IpPrefix::parse("fd00::/48");
    std::uint32_t mtu = 1420;
    std::uint32_t persistent_keepalive = 25;
    std::uint32_t stun_port = 0;  // the coordinator's STUN responder (and stun_port + 1); 0 = none
    std::uint32_t node_key_ttl = 0;  // seconds; the key is rotated when a third is left; 0 = never
    std::uint32_t ephemeral_inactivity = 0;
    std::vector<IpPrefix> container_pools;  // where "auto" container subnets come from

    bool operator==(const NetworkSettings&) const = default;
};

struct NetMap {
    std::uint64_t version = 0;
    std::optional<PeerInfo> self;
    std::map<std::string, PeerInfo> peers;  // by node id
    std::set<std::string> ready;            // peers whose pair the coordinator announced ready
    std::set<std::string> initiate;         // subset of ready: this side starts the handshake
};

struct MapUpdate {
    bool full = false;
    std::uint64_t from_version = 0;
    std::uint64_t version = 0;
    std::optional<PeerInfo> self;
    std::vector<PeerInfo> upserted;  // full: every peer
    std::vector<std::string> removed;
};

enum class ApplyResult {
    applied,
    gap,           // a delta that does not start at our version: resync from scratch
    self_removed,  // the operator removed this node
};

// True when `peer` joined (or last changed its key) before `self`: then self is the younger of
// the pair, adds the peer to its device only once the pair is ready, and initiates.
bool is_older(const PeerInfo& peer, const PeerInfo& self);

ApplyResult apply_update(NetMap& map, const MapUpdate& update, const std::string& self_id);

// Marks listed peers ready, and whether this side initiates; ids not in the map are ignored.
void mark_ready(NetMap& map, const std::vector<std::string>& initiate,
                const std::vector<std::string>& respond);
void forget_ready(NetMap& map, const std::string& node_id);

}  // namespace mesh::agent
