#pragma once
// The I/O half of meshctl netcheck, run in the agent (the host's network namespace and
// privileges, the same view of the network the tunnels have): the default gateway, a NAT-PMP /
// PCP probe to it, the host's IPv6 reachability, and a timed TCP connect to the coordinator.
#include <chrono>
#include <optional>
#include <string>

#include "kmod-bridge/ip.hpp"

namespace mesh::agent {

// The IPv4 default route's gateway (/proc/net/route), nullopt when there is none.
std::optional<kb::IpAddress> default_gateway_v4();

struct PortMappingProbe {
    std::string service = "no";  // "nat-pmp", "pcp" or "no"
    std::string detail;          // what answered, or why nothing did
};
// One NAT-PMP external-address request to GATEWAY:5351, waiting up to `timeout`.
PortMappingProbe probe_port_mapping(const std::optional<kb::IpAddress>& gateway,
                                    std::chrono::milliseconds timeout);

struct Ipv6Check {
    bool global_address = false;  // a global unicast address (not ULA, not on `skip_interface`)
    bool default_route = false;
};
Ipv6Check check_ipv6(const std::string& skip_interface);

struct ConnectTime {
    bool reachable = false;
    std::chrono::microseconds took{0};
    std::string error;
};
// A TCP connect to "host:port" (resolved here), bounded by `timeout`.
ConnectTime time_tcp_connect(const std::string& host_port, std::chrono::milliseconds timeout);

}  // namespace mesh::agent
