#include "coordinator/convert.hpp"

namespace mesh::coord {

v1::Peer to_proto(const NodeRecord& node) {
    v1::Peer p;
    p.set_node_id(node.id);
    p.set_hostname(node.hostname);
    p.set_wireguard_public_key(node.wireguard_key.bytes.data(), node.wireguard_key.bytes.size());
    p.add_allowed_ips(IpPrefix::host(node.ipv4).to_string());
    p.add_allowed_ips(IpPrefix::host(node.ipv6).to_string());
    for (const auto& e : node.endpoints) p.add_endpoints(e.to_string());
    p.set_key_version(node.key_version);
    return p;
}

v1::NetworkSettings to_proto(const NetworkConfig& network) {
    v1::NetworkSettings n;
    n.set_ipv4_prefix(network.ipv4_prefix.to_string());
    n.set_ipv6_prefix(network.ipv6_prefix.to_string());
    n.set_mtu(network.mtu);
    n.set_persistent_keepalive_seconds(network.persistent_keepalive);
    return n;
}

v1::SyncResponse to_proto(const MapMessage& m, const NetworkConfig& network) {
    v1::SyncResponse out;
    if (m.full) {
        auto* full = out.mutable_full();
        full->set_version(m.version);
        *full->mutable_self() = to_proto(*m.self);
        for (const auto& peer : m.peers) *full->add_peers() = to_proto(peer);
        *full->mutable_network() = to_proto(network);
    } else {
        auto* delta = out.mutable_delta();
        delta->set_from_version(m.from_version);
        delta->set_version(m.version);
        if (m.self) *delta->mutable_self() = to_proto(*m.self);
        for (const auto& peer : m.peers) *delta->add_upserted() = to_proto(peer);
        for (const auto& id : m.removed) delta->add_removed(id);
    }
    return out;
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

std::vector<Endpoint> endpoints_from_proto(
    const google::protobuf::RepeatedPtrField<std::string>& endpoints) {
    if (endpoints.size() > 64) {
        throw StatusError(Code::invalid_argument, "at most 64 endpoints may be reported");
    }
    std::vector<Endpoint> out;
    for (const auto& text : endpoints) {
        try {
            out.push_back(Endpoint::parse(text));
        } catch (const Error& e) {
            throw StatusError(Code::invalid_argument,
                              "endpoint '" + text.substr(0, 64) + "': " + e.what());
        }
    }
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
    }
    return {code, error.what()};
}

}  // namespace mesh::coord
