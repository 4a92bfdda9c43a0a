#include "agent/convert.hpp"

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

v1::NatType to_proto(NatType nat) {
    switch (nat) {
        case NatType::none:
            return v1::NAT_NONE;
        case NatType::endpoint_independent:
            return v1::NAT_ENDPOINT_INDEPENDENT;
        case NatType::endpoint_dependent:
            return v1::NAT_ENDPOINT_DEPENDENT;
        case NatType::unknown:
            break;
    }
    return v1::NAT_UNKNOWN;
}

namespace {
// The coordinator sends at most one per family; a few more are tolerated, a flood is refused.
constexpr int kMaxContainerSubnets = 4;
}  // namespace

PeerInfo from_proto(const v1::Peer& peer) {
    PeerInfo p;
    if (peer.node_id().empty() || peer.node_id().size() > 64) {
        throw Error("coordinator sent a peer without a valid node id");
    }
    p.node_id = peer.node_id();
    p.hostname = peer.hostname().substr(0, 63);
    if (peer.wireguard_public_key().size() != 32) {
        throw Error("coordinator sent peer " + p.node_id + " with a key that is not 32 bytes");
    }
    std::copy(peer.wireguard_public_key().begin(), peer.wireguard_public_key().end(),
              p.public_key.bytes.begin());
    for (const auto& ip : peer.allowed_ips()) p.allowed_ips.push_back(IpPrefix::parse(ip));
    for (const auto& e : peer.endpoints()) p.endpoints.push_back(Endpoint::parse(e));
    p.key_version = peer.key_version();
    if (peer.tags_size() > 64) throw Error("coordinator sent peer " + p.node_id + " with >64 tags");
    for (const auto& t : peer.tags()) p.tags.push_back(t.substr(0, 63));
    p.key_expires_at = peer.key_expires_at();
    if (peer.container_subnets_size() > kMaxContainerSubnets) {
        throw Error("coordinator sent peer " + p.node_id + " with more than " +
                    std::to_string(kMaxContainerSubnets) + " container subnets");
    }
    for (const auto& s : peer.container_subnets()) {
        p.container_subnets.push_back(IpPrefix::parse(s).masked());
    }
    if (!peer.relay_endpoint().empty()) p.relay_endpoint = Endpoint::parse(peer.relay_endpoint());
    p.nat_endpoint_dependent = peer.nat() == v1::NAT_ENDPOINT_DEPENDENT;
    return p;
}

v1::Peer to_proto(const PeerInfo& peer) {
    v1::Peer p;
    p.set_node_id(peer.node_id);
    p.set_hostname(peer.hostname);
    p.set_wireguard_public_key(peer.public_key.bytes.data(), peer.public_key.bytes.size());
    for (const auto& ip : peer.allowed_ips) p.add_allowed_ips(ip.to_string());
    for (const auto& e : peer.endpoints) p.add_endpoints(e.to_string());
    p.set_key_version(peer.key_version);
    for (const auto& t : peer.tags) p.add_tags(t);
    p.set_key_expires_at(peer.key_expires_at);
    for (const auto& s : peer.container_subnets) p.add_container_subnets(s.to_string());
    if (peer.relay_endpoint) p.set_relay_endpoint(peer.relay_endpoint->to_string());
    if (peer.nat_endpoint_dependent) p.set_nat(v1::NAT_ENDPOINT_DEPENDENT);
    return p;
}

NetworkSettings from_proto(const v1::NetworkSettings& network) {
    NetworkSettings n;
    n.ipv4_prefix = IpPrefix::parse(network.ipv4_prefix());
    n.ipv6_prefix = IpPrefix::parse(network.ipv6_prefix());
    n.mtu = network.mtu() == 0 ? 1420 : network.mtu();
    if (n.mtu < 1280 || n.mtu > 9000) throw Error("coordinator sent an MTU outside 1280..9000");
    n.persistent_keepalive =
        network.persistent_keepalive_seconds() == 0 ? 25 : network.persistent_keepalive_seconds();
    if (n.persistent_keepalive > 65535) throw Error("coordinator sent a keepalive over 65535 s");
    if (network.stun_port() > 65534) throw Error("coordinator sent a STUN port over 65534");
    n.stun_port = network.stun_port();
    n.node_key_ttl = network.node_key_ttl_seconds();
    n.ephemeral_inactivity = network.ephemeral_inactivity_seconds();
    if (network.container_pools_size() > kMaxContainerSubnets) {
        throw Error("coordinator sent more than " + std::to_string(kMaxContainerSubnets) +
                    " container pools");
    }
    for (const auto& pool : network.container_pools()) {
        n.container_pools.push_back(IpPrefix::parse(pool).masked());
    }
    return n;
}

v1::NetworkSettings to_proto(const NetworkSettings& network) {
    v1::NetworkSettings n;
    n.set_ipv4_prefix(network.ipv4_prefix.to_string());
    n.set_ipv6_prefix(network.ipv6_prefix.to_string());
    n.set_mtu(network.mtu);
    n.set_persistent_keepalive_seconds(network.persistent_keepalive);
    n.set_stun_port(network.stun_port);
    n.set_node_key_ttl_seconds(network.node_key_ttl);
    n.set_ephemeral_inactivity_seconds(network.ephemeral_inactivity);
    for (const auto& pool : network.container_pools) n.add_container_pools(pool.to_string());
    return n;
}

MapUpdate from_proto(const v1::NetMap& map) {
    MapUpdate u;
    u.full = true;
    u.version = map.version();
    u.self = from_proto(map.self());
    for (const auto& peer : map.peers()) u.upserted.push_back(from_proto(peer));
    return u;
}

MapUpdate from_proto(const v1::NetMapDelta& delta) {
    MapUpdate u;
    u.from_version = delta.from_version();
    u.version = delta.version();
    if (delta.has_self()) u.self = from_proto(delta.self());
    for (const auto& peer : delta.upserted()) u.upserted.push_back(from_proto(peer));
    u.removed.assign(delta.removed().begin(), delta.removed().end());
    return u;
}

v1::NetMap to_proto(const NetMap& map) {
    v1::NetMap m;
    m.set_version(map.version);
    if (map.self) *m.mutable_self() = to_proto(*map.self);
    for (const auto& [id, peer] : map.peers) *m.add_peers() = to_proto(peer);
    return m;
}

namespace {

v1::PathKind to_proto(PathKind kind) {
    switch (kind) {
        case PathKind::lan:
            return v1::PATH_LAN;
        case PathKind::nat_direct:
            return v1::PATH_NAT_DIRECT;
        case PathKind::none:
            return v1::PATH_NONE;
        case PathKind::relay:
            return v1::PATH_RELAY;
        case PathKind::probing:
            break;
    }
    return v1::PATH_UNKNOWN;
}

}  // namespace

v1::PathReport to_proto(const PathReport& report) {
    v1::PathReport r;
    r.set_nat(to_proto(report.nat));
    if (report.reflexive) r.set_reflexive(report.reflexive->to_string());
    for (const auto& [id, path] : report.peers) {
        auto* p = r.add_peers();
        p->set_node_id(id);
        p->set_path(to_proto(path.first));
        if (path.second) p->set_endpoint(path.second->to_string());
    }
    return r;
}

}  // namespace mesh::agent
