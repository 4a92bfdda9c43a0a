#pragma once
// From the network map to the device's desired state (pure). The agent distrusts control: a
// peer's allowed IPs are kept only when they are host routes inside the overlay prefixes and not
// our own addresses, so a confused or hostile coordinator cannot steer other traffic into the
// tunnel.
#include <cstdint>
#include <optional>
#include <set>

#include "agent/container_plan.hpp"
#include "agent/netmap.hpp"
#include "agent/path_finder.hpp"
#include "kmod-bridge/device.hpp"

namespace mesh::agent {

struct DeviceIdentity {
    Key private_key;
    std::uint16_t listen_port = 51820;
};

// `established`: peers the device has completed a handshake with. Keepalive goes on for a ready
// peer at once when this side initiates, else only after the peer's handshake arrived.
// `paths` (by node id; null when probing is off): the endpoint path probing chose. This side
// initiates only once that endpoint answered a probe (so the first initiation is not lost in a
// NAT that has no mapping for the pair yet), or once probing gave up on every candidate.
// `containers` (null: none): each peer's accepted container subnets join its allowed IPs.
kb::DeviceConfig desired_config(const NetMap& map, const NetworkSettings& network,
                                const DeviceIdentity& identity, const std::set<Key>& established,
                                const std::map<std::string, PathSelection>* paths = nullptr,
                                const ContainerPlan* containers = nullptr);

// The endpoint to configure for a peer: its first IPv4 candidate, else its first candidate.
std::optional<Endpoint> choose_endpoint(const std::vector<Endpoint>& candidates);

// Allowed IPs we accept for a peer (see above).
std::vector<IpPrefix> trusted_allowed_ips(const PeerInfo& peer, const NetworkSettings& network,
                                          const std::optional<PeerInfo>& self);

}  // namespace mesh::agent
