#include "agent/desired_config.hpp"

#include <algorithm>

namespace mesh::agent {

std::optional<Endpoint> choose_endpoint(const std::vector<Endpoint>& candidates) {
    for (const auto& e : candidates) {
        if (e.address.is_v4()) return e;
    }
    if (!candidates.empty()) return candidates.front();
    return std::nullopt;
}

std::vector<IpPrefix> trusted_allowed_ips(const PeerInfo& peer, const NetworkSettings& network,
                                          const std::optional<PeerInfo>& self) {
    std::vector<IpPrefix> out;
    for (const auto& prefix : peer.allowed_ips) {
        bool host = prefix.length == prefix.address.max_prefix();
        bool inside = network.ipv4_prefix.contains(prefix.address) ||
                      network.ipv6_prefix.contains(prefix.address);
        bool ours = self && std::find(self->allowed_ips.begin(), self->allowed_ips.end(), prefix) !=
                                self->allowed_ips.end();
        if (host && inside && !ours) out.push_back(prefix);
    }
    return out;
}

kb::DeviceConfig desired_config(const NetMap& map, const NetworkSettings& network,
                                const DeviceIdentity& identity, const std::set<Key>& established,
                                const std::map<std::string, PathSelection>* paths,
                                const ContainerPlan* containers) {
    kb::DeviceConfig config;
    config.private_key = identity.private_key;
    config.listen_port = identity.listen_port;
    for (const auto& [id, peer] : map.peers) {
        if (peer.public_key == (map.self ? map.self->public_key : Key{})) continue;
        bool ready = map.ready.contains(id);
        // The younger side of a pair configures the older peer only once the pair is ready:
        // until then any packet it sent would reach a device that does not know it yet.
        if (!ready && map.self && is_older(peer, *map.self)) continue;
        kb::PeerConfig p;
        p.public_key = peer.public_key;
        bool path_ok = true;
        const PathSelection* path = nullptr;
        if (paths) {
            auto it = paths->find(id);
            if (it != paths->end()) path = &it->second;
        }
        if (path) {
            p.endpoint = path->endpoint;
            path_ok = path->verified || path->given_up;
        } else {
            p.endpoint = choose_endpoint(peer.endpoints);
        }
        p.allowed_ips = trusted_allowed_ips(peer, network, map.self);
        if (containers) {
            if (auto it = containers->peers.find(id); it != containers->peers.end()) {
                p.allowed_ips.insert(p.allowed_ips.end(), it->second.begin(), it->second.end());
            }
        }
        // Keepalive goes on once both sides know each other: turning it on makes WireGuard send
        // at once, which starts the handshake without waiting for traffic.
        // Without an endpoint an initiation cannot leave, yet would still hold WireGuard's 5 s
        // initiation rate limit: wait for the endpoint.
        bool initiate = map.initiate.contains(id) && p.endpoint.has_value() && path_ok;
        if (ready && (initiate || established.contains(peer.public_key))) {
            p.persistent_keepalive = static_cast<std::uint16_t>(network.persistent_keepalive);
        }
        config.peers.push_back(std::move(p));
    }
    return config;
}

}  // namespace mesh::agent
