#include "coordinator/ipam.hpp"

#include <sodium.h>

#include "kmod-bridge/error.hpp"

namespace mesh::coord {

namespace {

std::uint32_t to_u32(const IpAddress& a) {
    return std::uint32_t{a.bytes[0]} << 24 | std::uint32_t{a.bytes[1]} << 16 |
           std::uint32_t{a.bytes[2]} << 8 | a.bytes[3];
}

}  // namespace

std::optional<IpAddress> allocate_ipv4(const IpPrefix& prefix, const std::set<IpAddress>& used) {
    const std::uint32_t base = to_u32(prefix.masked().address);
    const std::uint64_t size = std::uint64_t{1} << (32 - prefix.length);
    if (size < 4) return std::nullopt;
    for (std::uint64_t offset = 1; offset < size - 1; ++offset) {
        IpAddress candidate = IpAddress::v4(base + static_cast<std::uint32_t>(offset));
        if (!used.contains(candidate)) return candidate;
    }
    return std::nullopt;
}

IpAddress mirror_ipv6(const IpPrefix& v6_prefix, const IpPrefix& v4_prefix, const IpAddress& v4) {
    std::uint32_t offset = to_u32(v4) - to_u32(v4_prefix.masked().address);
    IpAddress out = v6_prefix.masked().address;
    out.bytes[12] |= offset >> 24;
    out.bytes[13] |= offset >> 16 & 0xff;
    out.bytes[14] |= offset >> 8 & 0xff;
    out.bytes[15] |= offset & 0xff;
    return out;
}

IpPrefix random_ula_prefix() {
    IpPrefix p;
    p.address.family = IpAddress::Family::v6;
    p.address.bytes[0] = 0xfd;
    randombytes_buf(&p.address.bytes[1], 5);
    p.length = 48;
    return p;
}

void validate_overlay_prefixes(const IpPrefix& v4, const IpPrefix& v6) {
    if (!v4.address.is_v4()) throw Error("the IPv4 overlay prefix must be an IPv4 prefix");
    if (v4.length > 30) throw Error("the IPv4 overlay prefix must be /30 or larger");
    if (v6.address.is_v4()) throw Error("the IPv6 overlay prefix must be an IPv6 prefix");
    if (v6.length > 96) throw Error("the IPv6 overlay prefix must be /96 or larger");
}

}  // namespace mesh::coord
