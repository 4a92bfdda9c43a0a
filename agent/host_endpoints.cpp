#include "agent/host_endpoints.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
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

bool candidate_address(const InterfaceAddress& a, const std::string& mesh_interface,
                       const NetworkSettings& network) {
    return a.interface != mesh_interface && usable(a.address) &&
           !network.ipv4_prefix.contains(a.address) && !network.ipv6_prefix.contains(a.address);
}

std::uint8_t mask_length(const sockaddr* mask) {
    if (!mask) return 0;
    const std::uint8_t* bytes = nullptr;
    std::size_t size = 0;
    if (mask->sa_family == AF_INET) {
        bytes = reinterpret_cast<const std::uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(mask)->sin_addr);
        size = 4;
    } else if (mask->sa_family == AF_INET6) {
        bytes = reinterpret_cast<const std::uint8_t*>(
            &reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr);
        size = 16;
    }
    std::uint8_t bits = 0;
    for (std::size_t i = 0; i < size; ++i)
        bits += static_cast<std::uint8_t>(__builtin_popcount(bytes[i]));
    return bits;
}

}  // namespace

std::vector<Endpoint> select_endpoints(const std::vector<InterfaceAddress>& addresses,
                                       const std::string& mesh_interface,
                                       const NetworkSettings& network, std::uint16_t port) {
    std::vector<Endpoint> v4, v6;
    for (const auto& a : addresses) {
        if (!candidate_address(a, mesh_interface, network)) continue;
        (a.address.is_v4() ? v4 : v6).push_back(Endpoint{a.address, port});
    }
    v4.insert(v4.end(), v6.begin(), v6.end());
    return v4;
}

std::vector<IpPrefix> select_prefixes(const std::vector<InterfaceAddress>& addresses,
                                      const std::string& mesh_interface,
                                      const NetworkSettings& network) {
    std::vector<IpPrefix> out;
    for (const auto& a : addresses) {
        if (!candidate_address(a, mesh_interface, network)) continue;
        IpPrefix p{a.address, std::min<std::uint8_t>(a.prefix_length, a.address.max_prefix())};
        out.push_back(p.masked());
    }
    return out;
}

std::vector<InterfaceAddress> host_addresses() {
    std::vector<InterfaceAddress> out;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return out;
    for (auto* it = list; it; it = it->ifa_next) {
        // IFF_RUNNING: an address on a link without carrier is not reachable (yet).
        if (!it->ifa_addr || !(it->ifa_flags & IFF_UP) || !(it->ifa_flags & IFF_RUNNING)) continue;
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
        a.prefix_length = mask_length(it->ifa_netmask);
        out.push_back(a);
    }
    freeifaddrs(list);
    return out;
}

}  // namespace mesh::agent
