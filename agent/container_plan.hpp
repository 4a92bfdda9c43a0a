#pragma once
// Which container subnets this host routes (pure): its own, served by the local bridge, and each
// peer's, routed to that peer over the mesh. The agent distrusts control here as it does for
// allowed IPs: a subnet is accepted only when it lies in private-use space (or a range the
// operator allowed with --container-allow), outside the overlay, away from the networks of this
// host's other interfaces, and clear of every subnet accepted before it. So a confused or
// hostile coordinator cannot pull the host's LAN, the overlay or the Internet into the tunnel.
#include <map>
#include <string>
#include <vector>

#include "agent/host_endpoints.hpp"
#include "agent/netmap.hpp"

namespace mesh::agent {

struct ContainerPlanInput {
    std::vector<IpPrefix> own;  // this host's subnets, as the coordinator assigned them
    std::vector<InterfaceAddress> host_addresses;
    std::vector<std::string> ignored_interfaces;  // the mesh interface and the container bridge
    std::vector<IpPrefix> allowed;                // extra ranges beside private-use space
};

struct ContainerPlan {
    std::vector<IpPrefix> own;
    std::map<std::string, std::vector<IpPrefix>> peers;  // node id -> accepted subnets
    // One line per subnet left out, key=value for the log: "node=ID subnet=P reason=...".
    std::vector<std::string> refused;

    bool operator==(const ContainerPlan&) const = default;
};

// Private-use space a container subnet may come from without --container-allow: RFC 1918, the
// shared address space of RFC 6598 (minus the overlay, checked separately) and IPv6 ULAs.
const std::vector<IpPrefix>& private_use_ranges();

// Own subnets first, then peers oldest first (by key_version, then node id): of two that
// overlap, the one that was there before wins, as on the coordinator.
ContainerPlan plan_containers(const NetMap& map, const NetworkSettings& network,
                              const ContainerPlanInput& input);

// Every accepted peer subnet: the routes through the mesh interface.
std::vector<IpPrefix> peer_routes(const ContainerPlan& plan);

struct RouteChanges {
    std::vector<IpPrefix> add;
    std::vector<IpPrefix> remove;
    bool empty() const { return add.empty() && remove.empty(); }
};
RouteChanges route_changes(const std::vector<IpPrefix>& desired,
                           const std::vector<IpPrefix>& current);

}  // namespace mesh::agent
