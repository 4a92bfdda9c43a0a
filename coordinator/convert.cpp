#include "coordinator/convert.hpp"

#include <algorithm>
#include <set>

#include "coordinator/endpoint_policy.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::coord {

v1::Peer to_proto(const NodeRecord& node) {
    v1::Peer p;
    p.set_node_id(node.id);
    p.set_hostname(node.hostname);
    p.set_wireguard_public_key(node.wireguard_key.bytes.data(), node.wireguard_key.bytes.size());
    p.add_allowed_ips(IpPrefix::host(node.ipv4).to_string());
    p.add_allowed_ips(IpPrefix::host(node.ipv6).to_string());
    for (const auto& e : node.endpoints) p.add_endpoints(e.to_string());
    if (node.relay) p.set_relay_endpoint(node.relay->to_string());
    p.set_nat(static_cast<v1::NatType>(node.nat));
    p.set_key_version(node.key_version);
    for (const auto& t : node.tags) p.add_tags(t);
    p.set_key_expires_at(node.key_expires_at);
    for (const auto& c : node.container_subnets) p.add_container_subnets(c.to_string());
    return p;
}

v1::NetworkSettings to_proto(const NetworkConfig& network) {
    v1::NetworkSettings n;
    n.set_ipv4_prefix(network.ipv4_prefix.to_string());
    n.set_ipv6_prefix(network.ipv6_prefix.to_string());
    n.set_mtu(network.mtu);
    n.set_persistent_keepalive_seconds(network.persistent_keepalive);
    n.set_stun_port(network.stun_port);
    n.set_node_key_ttl_seconds(network.node_key_ttl);
    n.set_ephemeral_inactivity_seconds(network.ephemeral_inactivity);
    for (const auto& pool : network.container_pools) n.add_container_pools(pool.prefix.to_string());
    return n;
}

std::string encode_peer(const NodeRecord& node) {
    return to_proto(node).SerializeAsString();
}

Key key_from_bytes(const std::string& bytes, const char* field) {
    if (bytes.size() != 32) {
        throw StatusError(Code::invalid_argument, std::string(field) + " must be 32 bytes, got " +
                                                      std::to_string(bytes.size()));
    }
    Key k;
    std::copy(bytes.begin(), bytes.end(), k.bytes.begin());
    return k;
}

int nat_from_proto(int nat) {
    return v1::NatType_IsValid(nat) ? nat : 0;
}

std::optional<Endpoint> relay_from_proto(const std::string& relay, const NetworkConfig& network) {
    if (relay.empty()) return std::nullopt;
    Endpoint e;
    try {
        e = Endpoint::parse(relay);
    } catch (const Error&) {
        throw StatusError(Code::invalid_argument,
                          "the relay endpoint is not an address with a port (a.b.c.d:port or "
                          "[v6]:port)");
    }
    if (auto why = endpoint_refusal(e, network)) {
        throw StatusError(Code::invalid_argument,
                          "the relay endpoint is " + *why + ", which peers cannot be sent to");
    }
    return e;
}

std::vector<Endpoint> endpoints_from_proto(
    const google::protobuf::RepeatedPtrField<std::string>& endpoints,
    const NetworkConfig& network) {
    if (endpoints.size() > static_cast<int>(kMaxEndpoints)) {
        throw StatusError(Code::invalid_argument, "at most " + std::to_string(kMaxEndpoints) +
                                                      " endpoints may be reported");
    }
    std::vector<Endpoint> out;
    for (int i = 0; i < endpoints.size(); ++i) {
        Endpoint e;
        try {
            e = Endpoint::parse(endpoints[i]);
        } catch (const Error&) {
            // Not echoed: a Join is checked here before its token, so this text is anyone's.
            throw StatusError(Code::invalid_argument,
                              "endpoint #" + std::to_string(i + 1) +
                                  " is not an address with a port (a.b.c.d:port or [v6]:port)");
        }
        if (auto why = endpoint_refusal(e, network)) {
            throw StatusError(Code::invalid_argument, "endpoint #" + std::to_string(i + 1) +
                                                          " is " + *why +
                                                          ", which peers cannot be sent to");
        }
        if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
    }
    return out;
}

namespace {

std::optional<Endpoint> optional_endpoint(const std::string& text, const char* field) {
    if (text.empty()) return std::nullopt;
    try {
        return Endpoint::parse(text);
    } catch (const Error& e) {
        throw StatusError(
            Code::invalid_argument,
            std::string(field) + " '" + kb::escape_untrusted(text) + "': " + e.what());
    }
}

NodePaths::Nat nat_from_proto(v1::NatType nat) {
    switch (nat) {
        case v1::NAT_NONE:
            return NodePaths::Nat::none;
        case v1::NAT_ENDPOINT_INDEPENDENT:
            return NodePaths::Nat::endpoint_independent;
        case v1::NAT_ENDPOINT_DEPENDENT:
            return NodePaths::Nat::endpoint_dependent;
        default:
            return NodePaths::Nat::unknown;
    }
}

PeerPath::Kind kind_from_proto(v1::PathKind kind) {
    switch (kind) {
        case v1::PATH_LAN:
            return PeerPath::Kind::lan;
        case v1::PATH_NAT_DIRECT:
            return PeerPath::Kind::nat_direct;
        case v1::PATH_NONE:
            return PeerPath::Kind::none;
        case v1::PATH_RELAY:
            return PeerPath::Kind::relay;
        default:
            return PeerPath::Kind::unknown;
    }
}

PeerPath peer_path_from_proto(const v1::PeerPath& p) {
    if (p.node_id().empty() || p.node_id().size() > 64) {
        throw StatusError(Code::invalid_argument,
                          "a peer path's node_id must be 1..64 characters, got " +
                              std::to_string(p.node_id().size()));
    }
    PeerPath out;
    out.node_id = p.node_id();
    out.kind = kind_from_proto(p.path());
    out.endpoint = optional_endpoint(p.endpoint(), "peer path endpoint");
    out.rtt_us = p.rtt_us();
    return out;
}

}  // namespace

NodePaths paths_from_proto(const v1::PathReport& report) {
    if (report.peers_size() > kMaxPathPeers) {
        throw StatusError(Code::invalid_argument, "a path report lists at most " +
                                                      std::to_string(kMaxPathPeers) + " peers");
    }
    NodePaths out;
    out.nat = nat_from_proto(report.nat());
    out.reflexive = optional_endpoint(report.reflexive(), "reflexive address");
    std::set<std::string> seen;
    for (const auto& p : report.peers()) {
        if (!seen.insert(p.node_id()).second) {
            throw StatusError(Code::invalid_argument,
                              "peer '" + kb::escape_untrusted(p.node_id()) + "' is listed twice");
        }
        out.peers.push_back(peer_path_from_proto(p));
    }
    return out;
}

v1::NatType to_proto(NodePaths::Nat nat) {
    switch (nat) {
        case NodePaths::Nat::none:
            return v1::NAT_NONE;
        case NodePaths::Nat::endpoint_independent:
            return v1::NAT_ENDPOINT_INDEPENDENT;
        case NodePaths::Nat::endpoint_dependent:
            return v1::NAT_ENDPOINT_DEPENDENT;
        case NodePaths::Nat::unknown:
            break;
    }
    return v1::NAT_UNKNOWN;
}

v1::PeerPath to_proto(const PeerPath& path) {
    v1::PeerPath out;
    out.set_node_id(path.node_id);
    switch (path.kind) {
        case PeerPath::Kind::lan:
            out.set_path(v1::PATH_LAN);
            break;
        case PeerPath::Kind::nat_direct:
            out.set_path(v1::PATH_NAT_DIRECT);
            break;
        case PeerPath::Kind::none:
            out.set_path(v1::PATH_NONE);
            break;
        case PeerPath::Kind::relay:
            out.set_path(v1::PATH_RELAY);
            break;
        case PeerPath::Kind::unknown:
            out.set_path(v1::PATH_UNKNOWN);
            break;
    }
    if (path.endpoint) out.set_endpoint(path.endpoint->to_string());
    out.set_rtt_us(path.rtt_us);
    return out;
}

grpc::Status to_grpc(const StatusError& error) {
    grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
    switch (error.code()) {
        case Code::invalid_argument:
            code = grpc::StatusCode::INVALID_ARGUMENT;
            break;
        case Code::unauthenticated:
            code = grpc::StatusCode::UNAUTHENTICATED;
            break;
        case Code::permission_denied:
            code = grpc::StatusCode::PERMISSION_DENIED;
            break;
        case Code::not_found:
            code = grpc::StatusCode::NOT_FOUND;
            break;
        case Code::resource_exhausted:
            code = grpc::StatusCode::RESOURCE_EXHAUSTED;
            break;
        case Code::aborted:
            code = grpc::StatusCode::ABORTED;
            break;
        case Code::unavailable:
            code = grpc::StatusCode::UNAVAILABLE;
            break;
        case Code::cancelled:
            code = grpc::StatusCode::CANCELLED;
            break;
        case Code::deadline_exceeded:
            code = grpc::StatusCode::DEADLINE_EXCEEDED;
            break;
        case Code::failed_precondition:
            code = grpc::StatusCode::FAILED_PRECONDITION;
            break;
    }
    return {code, error.what()};
}

}  // namespace mesh::coord
