#include "coordinator/admin_service.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "coordinator/convert.hpp"

namespace mesh::coord {

namespace {

// Runs a handler body, mapping our errors to statuses so no exception escapes into gRPC.
template <class Fn>
grpc::Status guarded(Fn&& fn) {
    try {
        fn();
        return grpc::Status::OK;
    } catch (const StatusError& e) {
        return to_grpc(e);
    } catch (const std::exception& e) {
        return {grpc::StatusCode::UNAVAILABLE, std::string("storage error: ") + e.what()};
    }
}

// The node's last path report, without peers that are not (or no longer) in the map.
void fill_paths(const NodePaths& paths, const std::set<std::string>& known, v1::NodeInfo* info) {
    info->set_nat(to_proto(paths.nat));
    if (paths.reflexive) info->set_reflexive(paths.reflexive->to_string());
    for (const auto& peer : paths.peers) {
        if (known.contains(peer.node_id)) *info->add_paths() = to_proto(peer);
    }
}

}  // namespace

grpc::Status AdminService::CreateToken(grpc::ServerContext*, const v1::CreateTokenRequest* request,
                                       v1::CreateTokenResponse* response) {
    return guarded([&] {
        auto token = registry_.create_token(request->ttl_seconds(), request->reusable(),
                                            request->max_uses());
        response->set_token(token.text);
        response->set_token_id(token.record.id);
        response->set_expires_at(token.record.expires_at);
        spdlog::info("event=token_created token_id={} reusable={} max_uses={} expires_at={}",
                     token.record.id, token.record.reusable, token.record.max_uses,
                     token.record.expires_at);
    });
}

grpc::Status AdminService::ListTokens(grpc::ServerContext*, const v1::ListTokensRequest*,
                                      v1::ListTokensResponse* response) {
    return guarded([&] {
        for (const auto& t : registry_.store().tokens()) {
            auto* info = response->add_tokens();
            info->set_token_id(t.id);
            info->set_created_at(t.created_at);
            info->set_expires_at(t.expires_at);
            info->set_reusable(t.reusable);
            info->set_max_uses(t.max_uses);
            info->set_uses(t.uses);
        }
    });
}

grpc::Status AdminService::ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                                     v1::ListNodesResponse* response) {
    return guarded([&] {
        response->set_version(registry_.store().version());
        auto nodes = registry_.store().nodes();
        std::set<std::string> known;
        for (const auto& n : nodes) known.insert(n.id);
        for (const auto& n : nodes) {
            auto* info = response->add_nodes();
            info->set_node_id(n.id);
            info->set_hostname(n.hostname);
            for (const auto& a : interface_addresses(n, registry_.network())) {
                info->add_addresses(a.to_string());
            }
            info->set_wireguard_public_key(n.wireguard_key.to_base64());
            for (const auto& e : n.endpoints) info->add_endpoints(e.to_string());
            info->set_connected(hub_.connected(n.id));
            info->set_created_at(n.created_at);
            info->set_applied_version(hub_.applied(n.id).value_or(0));
            if (auto paths = hub_.paths(n.id)) fill_paths(*paths, known, info);
        }
    });
}

grpc::Status AdminService::RemoveNode(grpc::ServerContext*, const v1::RemoveNodeRequest* request,
                                      v1::RemoveNodeResponse* response) {
    return guarded([&] {
        auto id = registry_.remove_node(request->node());
        response->set_node_id(id);
        spdlog::info("event=node_removed node={}", id);
    });
}

}  // namespace mesh::coord
