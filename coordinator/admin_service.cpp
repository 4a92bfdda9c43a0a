#include "coordinator/admin_service.hpp"

#include <spdlog/spdlog.h>

#include <fmt/ranges.h>

#include <set>

#include "coordinator/convert.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::coord {

namespace {

std::string bearer(grpc::ServerContext* context) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end()) return "";
    std::string value(it->second.data(), it->second.size());
    constexpr std::string_view kScheme = "Bearer ";
    if (value.size() > 512 || value.compare(0, kScheme.size(), kScheme) != 0) {
        throw StatusError(Code::unauthenticated,
                          "the authorization metadata must be 'Bearer mesh-op1_...'");
    }
    return value.substr(kScheme.size());
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

void AdminService::authorize(grpc::ServerContext* context) {
    if (access_ == Access::local) return;  // the socket's mode 0600 is the credential
    try {
        registry_.check_operator(bearer(context));
    } catch (const StatusError& e) {
        spdlog::warn("event=admin_refused peer={} reason={}", context->peer(),
                     kb::log_quote(e.what()));
        throw;
    }
}

template <class Fn>
grpc::Status AdminService::guarded(grpc::ServerContext* context, Fn&& fn) {
    try {
        authorize(context);
        fn();
        return grpc::Status::OK;
    } catch (const StatusError& e) {
        return to_grpc(e);
    } catch (const std::exception& e) {
        return {grpc::StatusCode::UNAVAILABLE, std::string("storage error: ") + e.what()};
    }
}

grpc::Status AdminService::CreateToken(grpc::ServerContext* context,
                                       const v1::CreateTokenRequest* request,
                                       v1::CreateTokenResponse* response) {
    return guarded(context, [&] {
        TokenParams params;
        params.ttl_seconds = request->ttl_seconds();
        params.reusable = request->reusable();
        params.max_uses = request->max_uses();
        params.tags = {request->tags().begin(), request->tags().end()};
        params.ephemeral = request->ephemeral();
        auto token = registry_.create_token(params);
        response->set_token(token.text);
        response->set_token_id(token.record.id);
        response->set_expires_at(token.record.expires_at);
        response->set_fingerprint(fingerprint_);
        spdlog::info(
            "event=token_created token_id={} reusable={} max_uses={} expires_at={} tags={} "
            "ephemeral={}",
            token.record.id, token.record.reusable, token.record.max_uses, token.record.expires_at,
            fmt::join(token.record.tags, ","), token.record.ephemeral);
    });
}

grpc::Status AdminService::RevokeToken(grpc::ServerContext* context,
                                       const v1::RevokeTokenRequest* request,
                                       v1::RevokeTokenResponse*) {
    return guarded(context, [&] {
        if (request->token_id().empty()) {
            throw StatusError(Code::invalid_argument, "give the token's id (token list)");
        }
        registry_.revoke_token(request->token_id());
        spdlog::info("event=token_revoked token_id={}", request->token_id());
    });
}

grpc::Status AdminService::ExpireNode(grpc::ServerContext* context,
                                      const v1::ExpireNodeRequest* request,
                                      v1::ExpireNodeResponse* response) {
    return guarded(context, [&] {
        auto id = registry_.expire_node(request->node());
        response->set_node_id(id);
        spdlog::info("event=node_expired node={} by=operator", id);
    });
}

grpc::Status AdminService::CreateOperatorCredential(
    grpc::ServerContext* context, const v1::CreateOperatorCredentialRequest*,
    v1::CreateOperatorCredentialResponse* response) {
    return guarded(context, [&] {
        if (access_ == Access::remote) {
            throw StatusError(Code::permission_denied,
                              "operator credentials are made only on the local admin socket");
        }
        response->set_credential(registry_.create_operator_credential());
        spdlog::info("event=operator_credential_created");
    });
}

grpc::Status AdminService::ListTokens(grpc::ServerContext* context, const v1::ListTokensRequest*,
                                      v1::ListTokensResponse* response) {
    return guarded(context, [&] {
        for (const auto& t : registry_.store().tokens()) {
            auto* info = response->add_tokens();
            info->set_token_id(t.id);
            info->set_created_at(t.created_at);
            info->set_expires_at(t.expires_at);
            info->set_reusable(t.reusable);
            info->set_max_uses(t.max_uses);
            info->set_uses(t.uses);
            for (const auto& tag : t.tags) info->add_tags(tag);
            info->set_ephemeral(t.ephemeral);
            info->set_revoked(t.revoked);
        }
    });
}

grpc::Status AdminService::ListNodes(grpc::ServerContext* context, const v1::ListNodesRequest*,
                                     v1::ListNodesResponse* response) {
    return guarded(context, [&] {
        std::vector<NodeRecord> nodes;
        std::set<std::string> known;
        response->set_version(registry_.with_map([&](const MeshMap& map) {
            for (const auto& [id, n] : map.nodes()) {
                nodes.push_back(n.record);
                known.insert(id);
            }
            return map.version();
        }));
        for (auto& n : nodes) {
            n.last_seen = registry_.last_seen(n);
            auto* info = response->add_nodes();
            info->set_node_id(n.id);
            info->set_hostname(n.hostname);
            for (const auto& a : interface_addresses(n, registry_.network())) {
                info->add_addresses(a.to_string());
            }
            info->set_wireguard_public_key(n.wireguard_key.to_base64());
            for (const auto& e : n.endpoints) info->add_endpoints(e.to_string());
            const bool here = hub_.connected(n.id);
            info->set_connected(here || (replication_ && replication_->connected_anywhere(n.id)));
            info->set_created_at(n.created_at);
            info->set_applied_version(hub_.applied(n.id).value_or(0));
            auto paths = hub_.paths(n.id);
            if (!paths && replication_) paths = replication_->remote_paths(n.id);
            if (paths) fill_paths(*paths, known, info);
            if (replication_) {
                if (here) {
                    info->set_replica(replication_->replica_id());
                } else if (auto r = replication_->replica_of(n.id)) {
                    info->set_replica(*r);
                }
            }
            for (const auto& tag : n.tags) info->add_tags(tag);
            info->set_ephemeral(n.ephemeral);
            info->set_key_expires_at(n.key_expires_at);
            info->set_expired(n.expired);
            info->set_last_seen(n.last_seen);
            for (const auto& p : n.container_subnets) info->add_container_subnets(p.to_string());
        }
    });
}

grpc::Status AdminService::RemoveNode(grpc::ServerContext* context,
                                      const v1::RemoveNodeRequest* request,
                                      v1::RemoveNodeResponse* response) {
    return guarded(context, [&] {
        auto id = registry_.remove_node(request->node());
        hub_.forget(id);
        response->set_node_id(id);
        spdlog::info("event=node_removed node={}", id);
    });
}

}  // namespace mesh::coord
