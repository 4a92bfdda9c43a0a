#pragma once
// The nftables script for the container subnet's way out (pure): traffic from the host's
// containers leaving through any interface but the mesh and the container bridge is masqueraded
// to the host's address, so container-to-container traffic over the mesh keeps its source while
// a container's traffic to the Internet leaves as the host's, through the host's own NAT.
//
// One table per mesh interface (inet mesh_IF), replaced whole in one transaction: the script
// declares the table (a no-op when present), deletes it and declares it again.
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::agent {

// "mesh_" + the interface name with anything but letters, digits and '_' made '_'.
std::string masquerade_table(const std::string& mesh_interface);

// Throws mesh::Error for an interface name nft could not quote (a '"' or '\\', or empty).
std::string masquerade_ruleset(const std::string& mesh_interface, const std::string& bridge,
                               const std::vector<kb::IpPrefix>& subnets);

// Removes the table; succeeds when it is absent.
std::string masquerade_removal(const std::string& mesh_interface);

}  // namespace mesh::agent
