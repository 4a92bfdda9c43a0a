#include "agent/container_plan.hpp"

#include <algorithm>
#include <tuple>

namespace mesh::agent {

namespace {

bool inside(const IpPrefix& outer, const IpPrefix& inner) {
    return outer.address.family == inner.address.family && outer.length <= inner.length &&
           outer.contains(inner.address);
}

bool ignored(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// Why `subnet` cannot be accepted, or "" when it can.
std::string refusal(const IpPrefix& subnet, const NetworkSettings& network,
                    const ContainerPlanInput& input, const std::vector<IpPrefix>& accepted) {
    const auto& ranges = private_use_ranges();
    bool permitted = std::any_of(ranges.begin(), ranges.end(),
                                 [&](const auto& r) { return inside(r, subnet); }) ||
                     std::any_of(input.allowed.begin(), input.allowed.end(),
                                 [&](const auto& r) { return inside(r, subnet); });
    if (!permitted) return "not_private_use";
    if (subnet.overlaps(network.ipv4_prefix) || subnet.overlaps(network.ipv6_prefix)) {
        return "overlaps_overlay";
    }
    for (const auto& a : input.host_addresses) {
        if (ignored(input.ignored_interfaces, a.interface)) continue;
        IpPrefix local{a.address, a.prefix_length};
        if (subnet.overlaps(local.masked())) return "overlaps_local_network:" + a.interface;
    }
    for (const auto& other : accepted) {
        if (subnet.overlaps(other)) return "overlaps_accepted:" + other.to_string();
    }
    return {};
}

// Accepts what passes from `candidates` into `out` and `accepted`; logs the rest.
void accept(const std::string& node, const std::vector<IpPrefix>& candidates,
            const NetworkSettings& network, const ContainerPlanInput& input,
            std::vector<IpPrefix>& accepted, std::vector<IpPrefix>& out,
            std::vector<std::string>& refused) {
    for (const auto& candidate : candidates) {
        auto subnet = candidate.masked();
        auto why = refusal(subnet, network, input, accepted);
        if (!why.empty()) {
            refused.push_back("node=" + node + " subnet=" + subnet.to_string() + " reason=" + why);
            continue;
        }
        accepted.push_back(subnet);
        out.push_back(subnet);
    }
}

}  // namespace

const std::vector<IpPrefix>& private_use_ranges() {
    static const std::vector<IpPrefix> ranges = {
        IpPrefix::parse("10.0.0.0/8"),     IpPrefix::parse("172.16.0.0/12"),
        IpPrefix::parse("192.168.0.0/16"), IpPrefix::parse("100.64.0.0/10"),
        IpPrefix::parse("fc00::/7"),
    };
    return ranges;
}

ContainerPlan plan_containers(const NetMap& map, const NetworkSettings& network,
                              const ContainerPlanInput& input) {
    ContainerPlan plan;
    std::vector<IpPrefix> accepted;
    accept(map.self ? map.self->node_id : "self", input.own, network, input, accepted, plan.own,
           plan.refused);
    std::vector<const PeerInfo*> peers;
    for (const auto& [id, peer] : map.peers) {
        if (!peer.container_subnets.empty() && (!map.self || id != map.self->node_id)) {
            peers.push_back(&peer);
        }
    }
    std::sort(peers.begin(), peers.end(), [](const PeerInfo* a, const PeerInfo* b) {
        return std::tie(a->key_version, a->node_id) < std::tie(b->key_version, b->node_id);
    });
    for (const auto* peer : peers) {
        std::vector<IpPrefix> out;
        accept(peer->node_id, peer->container_subnets, network, input, accepted, out, plan.refused);
        if (!out.empty()) plan.peers[peer->node_id] = std::move(out);
    }
    return plan;
}

std::vector<IpPrefix> peer_routes(const ContainerPlan& plan) {
    std::vector<IpPrefix> out;
    for (const auto& [id, subnets] : plan.peers)
        out.insert(out.end(), subnets.begin(), subnets.end());
    return out;
}

RouteChanges route_changes(const std::vector<IpPrefix>& desired,
                           const std::vector<IpPrefix>& current) {
    RouteChanges changes;
    auto has = [](const std::vector<IpPrefix>& v, const IpPrefix& p) {
        return std::find(v.begin(), v.end(), p) != v.end();
    };
    for (const auto& p : desired) {
        if (!has(current, p) && !has(changes.add, p)) changes.add.push_back(p);
    }
    for (const auto& p : current) {
        if (!has(desired, p) && !has(changes.remove, p)) changes.remove.push_back(p);
    }
    return changes;
}

}  // namespace mesh::agent
