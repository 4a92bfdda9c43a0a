#include "agent/host_endpoints.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>

namespace mesh::agent {

namespace {

bool usable(const IpAddress& a) {
    if (a.is_v4()) {
        return a.bytes[0] != 127 && !(a.bytes[0] == 169 && a.bytes[1] == 254) && a.bytes[0] != 0;
    }
    static const auto link_local = IpPrefix::parse("fe80::/10");
    static const auto loopback = IpAddress::parse("::1");
    return a != loopback && !link_local.contains(a);
}

}  // namespace

std::vector<Endpoint> select_endpoints(const std::vector<InterfaceAddress>& addresses,
                                       const std::string& mesh_interface,
                                       const NetworkSettings& network, std::uint16_t port) {
    std::vector<Endpoint> v4, v6;
    for (const auto& a : addresses) {
        if (a.interface == mesh_interface || !usable(a.address)) continue;
        if (network.ipv4_prefix.contains(a.address) || network.ipv6_prefix.contains(a.address)) {
            continue;
        }
        (a.address.is_v4() ? v4 : v6).push_back(Endpoint{a.address, port});
    }
    v4.insert(v4.end(), v6.begin(), v6.end());
    return v4;
}

std::vector<InterfaceAddress> host_addresses() {
    std::vector<InterfaceAddress> out;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return out;
    for (auto* it = list; it; it = it->ifa_next) {
        if (!it->ifa_addr || !(it->ifa_flags & IFF_UP)) continue;
        InterfaceAddress a;
        a.interface = it->ifa_name;
        if (it->ifa_addr->sa_family == AF_INET) {
            auto* sin = reinterpret_cast<sockaddr_in*>(it->ifa_addr);
            a.address.family = IpAddress::Family::v4;
            std::memcpy(a.address.bytes.data(), &sin->sin_addr, 4);
        } else if (it->ifa_addr->sa_family == AF_INET6) {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(it->ifa_addr);
            a.address.family = IpAddress::Family::v6;
            std::memcpy(a.address.bytes.data(), &sin6->sin6_addr, 16);
        } else {
            continue;
        }
        out.push_back(a);
    }
    freeifaddrs(list);
    return out;
}

}  // namespace mesh::agent
