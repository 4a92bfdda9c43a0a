#include "coordinator/endpoint_policy.hpp"

#include <utility>
#include <vector>

namespace mesh::coord {

namespace {

struct SpecialRange {
    IpPrefix prefix;
    const char* what;
};

const std::vector<SpecialRange>& special_ranges() {
    static const std::vector<SpecialRange> ranges = [] {
        std::vector<SpecialRange> out;
        for (auto [prefix, what] : {std::pair{"0.0.0.0/8", "unspecified"},
                                    {"127.0.0.0/8", "loopback"},
                                    {"169.254.0.0/16", "link-local"},
                                    {"224.0.0.0/4", "multicast"},
                                    {"240.0.0.0/4", "reserved or broadcast"},
                                    {"::/128", "unspecified"},
                                    {"::1/128", "loopback"},
                                    {"::ffff:0:0/96", "IPv4-mapped"},
                                    {"fe80::/10", "link-local"},
                                    {"ff00::/8", "multicast"}}) {
            out.push_back({IpPrefix::parse(prefix), what});
        }
        return out;
    }();
    return ranges;
}

}  // namespace

std::optional<std::string> special_range(const IpPrefix& prefix) {
    for (const auto& r : special_ranges()) {
        if (r.prefix.overlaps(prefix))
            return std::string(r.what) + " (" + r.prefix.to_string() + ")";
    }
    return std::nullopt;
}

std::optional<std::string> endpoint_refusal(const Endpoint& endpoint,
                                            const NetworkConfig& network) {
    const auto& a = endpoint.address;
    if (auto range = special_range(IpPrefix::host(a))) {
        std::string why = "an address in " + *range;
        if (range->starts_with("IPv4-mapped")) why += " (report the IPv4 address itself)";
        return why;
    }
    if (network.ipv4_prefix.contains(a) || network.ipv6_prefix.contains(a)) {
        return "an address of the overlay itself";
    }
    return std::nullopt;
}

}  // namespace mesh::coord
