#pragma once
// The coordinator's domain types. Protobuf types never reach past the service layer; these do.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/key.hpp"

namespace mesh::coord {

using kb::Endpoint;
using kb::IpAddress;
using kb::IpPrefix;
using kb::Key;

struct TokenRecord {
    std::string id;                       // public part, 16 hex digits
    std::array<std::uint8_t, 32> hash{};  // BLAKE2b-256 of the secret part
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;
    bool reusable = false;
    std::uint32_t max_uses = 0;  // reusable only; 0 = unlimited
    std::uint32_t uses = 0;
    bool revoked = false;
    std::vector<std::string> tags;  // given to every node that joins with it
    bool ephemeral = false;         // its nodes are removed after a while without a Sync stream

    bool operator==(const TokenRecord&) const = default;
};

// What a node reports of where it can be reached: its direct candidates and, when relay_given,
// its TURN relayed address (nullopt: none). A hello gives candidates only (relay unchanged).
struct CandidateReport {
    std::vector<Endpoint> endpoints;
    bool relay_given = false;
    std::optional<Endpoint> relay;
    int nat = 0;  // v1::NatType, as reported with the candidates (with relay_given)

    bool operator==(const CandidateReport&) const = default;
};

// A removed host's container subnet, kept for it (by machine key) until `until`: a host that
// comes back within the grace period gets its block, and its containers' addresses, back.
struct ContainerHold {
    IpPrefix prefix;
    Key machine_key;
    std::string hostname;  // of the removed node, for messages
    std::int64_t until = 0;

    bool operator==(const ContainerHold&) const = default;
};

struct NodeRecord {
    std::string id;
    std::string hostname;
    Key wireguard_key;
    Key machine_key;
    IpAddress ipv4;
    IpAddress ipv6;
    std::vector<Endpoint> endpoints;
    std::optional<Endpoint> relay;  // its TURN allocation's relayed address (issue 13)
    int nat = 0;                    // v1::NatType its agent reported (0 = unknown)
    std::int64_t created_at = 0;
    std::uint64_t version = 0;      // map version of the last change to this record
    std::uint64_t key_version = 0;  // map version at which the current WireGuard key was set
    std::vector<std::string> tags;  // from the join token
    bool ephemeral = false;
    std::int64_t key_expires_at = 0;  // 0 = never
    bool expired = false;             // out of every map until the node joins again
    std::int64_t last_seen = 0;       // last Sync open or close; not a map change (no version)
    // Container subnets routed to this host (at most one per family); empty = none.
    std::vector<IpPrefix> container_subnets;

    bool operator==(const NodeRecord&) const = default;
};

// Whether the node's key counts as expired at `now`: marked by the reaper or the operator, or
// past its key_expires_at even if nothing has marked it yet (the reaper runs once a second, and
// a coordinator that was down has not run it at all).
inline bool key_lapsed(const NodeRecord& node, std::int64_t now) {
    return node.expired || (node.key_expires_at != 0 && node.key_expires_at <= now);
}

// A node id removed from the map, at the version that removed it (a tombstone): deltas from
// older versions carry it.
struct Removal {
    std::string id;
    std::uint64_t version = 0;
};

// Where container subnets come from: blocks of `length` inside `prefix` (one pool per family).
struct ContainerPool {
    IpPrefix prefix;
    unsigned length = 24;

    bool operator==(const ContainerPool&) const = default;
};

struct NetworkConfig {
    IpPrefix ipv4_prefix = IpPrefix::parse("100.64.0.0/10");
    IpPrefix ipv6_prefix;  // chosen at first start (random ULA /48) unless given
    std::uint32_t mtu = 1420;
    std::uint32_t persistent_keepalive = 25;
    std::uint32_t stun_port = 0;     // the STUN responder's first port (it also uses +1); 0 = none
    std::uint32_t node_key_ttl = 0;  // seconds; 0 = node keys never expire
    std::uint32_t ephemeral_inactivity = 1800;   // seconds without a Sync stream
    std::vector<ContainerPool> container_pools;  // for "auto"; empty = none
    std::uint32_t container_grace = 86400;       // seconds a removed host's subnet is held for it
};

// A node's path to one peer, as its agent measured it.
struct PeerPath {
    // none: no direct path, needs a relay; relay: no direct path, relayed through TURN
    enum class Kind { unknown, lan, nat_direct, none, relay };
    std::string node_id;
    Kind kind = Kind::unknown;
    std::optional<Endpoint> endpoint;  // the one in use
    std::uint32_t rtt_us = 0;          // of the last answered probe; 0 = none

    bool operator==(const PeerPath&) const = default;
};

// A node's last path report: how its NAT maps its WireGuard port and its path to each peer.
// Kept in memory only, while the node's Sync stream is open.
struct NodePaths {
    enum class Nat { unknown, none, endpoint_independent, endpoint_dependent };
    Nat nat = Nat::unknown;
    std::optional<Endpoint> reflexive;
    std::vector<PeerPath> peers;  // at most one per peer

    bool operator==(const NodePaths&) const = default;
};

}  // namespace mesh::coord
