#include "coordinator/endpoint_policy.hpp"

#include <algorithm>

namespace mesh::coord {

namespace {

bool all_zero(const IpAddress& a) {
    return std::all_of(a.bytes.begin(), a.bytes.begin() + static_cast<long>(a.size()),
                       [](std::uint8_t b) { return b == 0; });
}

std::optional<std::string> v4_refusal(const IpAddress& a) {
    const auto b0 = a.bytes[0], b1 = a.bytes[1];
    if (all_zero(a) || b0 == 0) return "an unspecified (0.0.0.0/8) address";
    if (b0 == 127) return "a loopback address";
    if (b0 == 169 && b1 == 254) return "a link-local address";
    if (b0 >= 224 && b0 <= 239) return "a multicast address";
    if (b0 >= 240) return "a reserved or broadcast address";
    return std::nullopt;
}

std::optional<std::string> v6_refusal(const IpAddress& a) {
    if (all_zero(a)) return "the unspecified address";
    IpAddress loopback;
    loopback.family = IpAddress::Family::v6;
    loopback.bytes[15] = 1;
    if (a == loopback) return "a loopback address";
    if (a.bytes[0] == 0xff) return "a multicast address";
    if (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80) return "a link-local address";
    bool mapped = std::all_of(a.bytes.begin(), a.bytes.begin() + 10,
                              [](std::uint8_t b) { return b == 0; }) &&
                  a.bytes[10] == 0xff && a.bytes[11] == 0xff;
    if (mapped) return "an IPv4-mapped address (report the IPv4 address itself)";
    return std::nullopt;
}

}  // namespace

std::optional<std::string> endpoint_refusal(const Endpoint& endpoint,
                                            const NetworkConfig& network) {
    const auto& a = endpoint.address;
    if (auto why = a.is_v4() ? v4_refusal(a) : v6_refusal(a)) return why;
    if (network.ipv4_prefix.contains(a) || network.ipv6_prefix.contains(a)) {
        return "an address of the overlay itself";
    }
    return std::nullopt;
}

}  // namespace mesh::coord
