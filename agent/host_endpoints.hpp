#pragma once
// The host's own endpoint candidates: each usable address on its interfaces with the WireGuard
// listen port. Loopback, link-local, the mesh interface itself and addresses inside the overlay
// are not candidates.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/netmap.hpp"

namespace mesh::agent {

struct InterfaceAddress {
    std::string interface;
    IpAddress address;
    std::uint8_t prefix_length = 0;  // of the subnet the address is on
};

// Pure selection, ordered IPv4 first then by interface order.
std::vector<Endpoint> select_endpoints(const std::vector<InterfaceAddress>& addresses,
                                       const std::string& mesh_interface,
                                       const NetworkSettings& network, std::uint16_t port);

// The subnets of the same addresses: a peer's candidate inside one is on this host's LAN.
std::vector<IpPrefix> select_prefixes(const std::vector<InterfaceAddress>& addresses,
                                      const std::string& mesh_interface,
                                      const NetworkSettings& network);

// The addresses of the interfaces that are up and have carrier (getifaddrs).
std::vector<InterfaceAddress> host_addresses();

}  // namespace mesh::agent
