#pragma once
// Overlay address allocation: pure functions over the set of addresses in use.
#include <optional>
#include <set>

#include "coordinator/model.hpp"

namespace mesh::coord {

// The lowest free host address in prefix, skipping the network address and (for IPv4) the
// broadcast address; nullopt when the prefix is full.
std::optional<IpAddress> allocate_ipv4(const IpPrefix& prefix, const std::set<IpAddress>& used);

// The IPv6 address that mirrors an IPv4 one: the v6 prefix plus the v4 address's offset inside
// the v4 prefix, so both stay unique and stable together. The v6 prefix must be /96 or shorter.
IpAddress mirror_ipv6(const IpPrefix& v6_prefix, const IpPrefix& v4_prefix, const IpAddress& v4);

// A random RFC 4193 unique local /48.
IpPrefix random_ula_prefix();

// Throws mesh::Error when the prefixes cannot serve as an overlay (wrong family, too small).
void validate_overlay_prefixes(const IpPrefix& v4, const IpPrefix& v6);

}  // namespace mesh::coord
