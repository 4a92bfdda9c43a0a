#pragma once
// Which addresses a node may report as its endpoints (security review, finding 4): every peer
// sends probes and WireGuard traffic to them, so they must be addresses of the node on some
// network, never ones that would make peers talk to themselves (loopback, unspecified), to
// everyone (broadcast, multicast), to their own link (link-local) or into the overlay itself.
#include <cstddef>
#include <optional>
#include <string>

#include "coordinator/model.hpp"

namespace mesh::coord {

constexpr std::size_t kMaxEndpoints = 16;  // what an agent reports at most

// The special-purpose range `prefix` overlaps, named with its prefix ("loopback
// (127.0.0.0/8)"): unspecified, loopback, link-local, multicast, reserved/broadcast,
// IPv4-mapped. nullopt for unicast space. Endpoints and container subnets are both held to it.
std::optional<std::string> special_range(const IpPrefix& prefix);

// Why `endpoint` is refused, or nullopt when it is fine.
std::optional<std::string> endpoint_refusal(const Endpoint& endpoint, const NetworkConfig& network);

}  // namespace mesh::coord
