#include "agent/local_api.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "agent/coordinator_list.hpp"
#include "agent/join_client.hpp"

namespace mesh::agent {

grpc::Status LocalApi::Join(grpc::ServerContext*, const v1::LocalJoinRequest* request,
                            v1::LocalJoinResponse* response) {
    CoordinatorList coordinators;
    try {
        coordinators = parse_coordinator_list(request->coordinator(), request->fingerprint());
    } catch (const Error& e) {
        return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
    }
    std::string hostname = request->hostname();
    if (hostname.empty()) {
        char buf[256] = {};
        ::gethostname(buf, sizeof buf - 1);
        hostname = buf;
        if (auto dot = hostname.find('.'); dot != std::string::npos) hostname.resize(dot);
    }
    try {
        auto result =
            agent_.join(coordinators, request->token(), hostname, request->container_subnet());
        response->set_node_id(result.node_id);
        response->set_hostname(result.hostname);
        for (const auto& a : result.addresses) response->add_addresses(a.to_string());
        for (const auto& c : result.container_subnets)
            response->add_container_subnets(c.to_string());
        return grpc::Status::OK;
    } catch (const JoinFailure& e) {
        return {e.code(), e.what()};
    } catch (const std::exception& e) {
        return {grpc::StatusCode::INTERNAL, e.what()};
    }
}

grpc::Status LocalApi::Status(grpc::ServerContext*, const v1::StatusRequest*,
                              v1::StatusResponse* response) {
    AgentStatus s = agent_.status();
    response->set_joined(s.joined);
    response->set_node_id(s.node_id);
    response->set_hostname(s.hostname);
    for (const auto& a : s.addresses) response->add_addresses(a.to_string());
    for (std::size_t i = 0; i < s.coordinators.size(); ++i) {
        auto* c = response->add_coordinators();
        c->set_address(s.coordinators[i].address);
        c->set_fingerprint(s.coordinators[i].fingerprint);
        c->set_current(i == s.current);
        if (i == s.current) {
            response->set_coordinator(s.coordinators[i].address);
            response->set_fingerprint(s.coordinators[i].fingerprint);
        }
    }
    response->set_ipv6_disabled(s.ipv6_disabled);
    for (const auto& t : s.tags) response->add_tags(t);
    response->set_key_expires_at(s.key_expires_at);
    response->set_connected(s.connected);
    response->set_down(s.down);
    response->set_netmap_version(s.netmap_version);
    response->set_interface_name(s.interface_name);
    response->set_driver(s.driver);
    if (s.public_key) response->set_public_key(s.public_key->to_base64());
    response->set_last_error(s.last_error);
    response->set_nat_type(s.nat_type);
    if (s.reflexive) response->set_reflexive_endpoint(s.reflexive->to_string());
    for (const auto& c : s.candidates) response->add_candidates(c.to_string());
    for (const auto& c : s.container_subnets) response->add_container_subnets(c.to_string());
    response->set_cni_config(s.cni_config);
    response->set_relay(s.relay);
    for (const auto& r : s.container_refused) response->add_container_refused(r);
    for (const auto& p : s.peers) {
        auto* out = response->add_peers();
        out->set_node_id(p.node_id);
        out->set_hostname(p.hostname);
        out->set_public_key(p.public_key.to_base64());
        for (const auto& ip : p.allowed_ips) out->add_allowed_ips(ip.to_string());
        if (p.endpoint) out->set_endpoint(p.endpoint->to_string());
        out->set_last_handshake(p.last_handshake);
        out->set_rx_bytes(p.rx_bytes);
        out->set_tx_bytes(p.tx_bytes);
        out->set_ready(p.ready);
        out->set_path(p.path);
        out->set_rtt_us(p.rtt_us);
        for (const auto& c : p.container_subnets) out->add_container_subnets(c.to_string());
        for (const auto& c : p.candidates) out->add_candidates(c.to_string());
    }
    return grpc::Status::OK;
}

grpc::Status LocalApi::RotateKey(grpc::ServerContext*, const v1::RotateKeyRequest*,
                                 v1::RotateKeyResponse* response) {
    try {
        response->set_public_key(agent_.rotate_key().to_base64());
        return grpc::Status::OK;
    } catch (const std::exception& e) {
        return {grpc::StatusCode::FAILED_PRECONDITION, e.what()};
    }
}

grpc::Status LocalApi::Ping(grpc::ServerContext*, const v1::PingRequest* request,
                            v1::PingResponse* response) {
    constexpr std::uint32_t kMaxTimeoutMs = 30000;
    const std::uint32_t ms = request->timeout_ms() == 0 ? 1000 : request->timeout_ms();
    if (ms > kMaxTimeoutMs) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "a ping waits at most 30000 ms"};
    }
    auto out = agent_.ping(request->peer(), std::chrono::milliseconds(ms));
    switch (out.refusal) {
        case PingOutcome::Refusal::unknown_peer:
            return {grpc::StatusCode::NOT_FOUND, out.message};
        case PingOutcome::Refusal::not_ready:
            return {grpc::StatusCode::FAILED_PRECONDITION, out.message};
        case PingOutcome::Refusal::none:
            break;
    }
    response->set_node_id(out.node_id);
    response->set_hostname(out.hostname);
    response->set_selected_path(out.selected_path);
    if (out.answer) {
        response->set_answered(true);
        response->set_path(path_kind_name(out.answer->kind));
        response->set_endpoint(out.answer->from.to_string());
        response->set_rtt_us(static_cast<std::uint32_t>(out.answer->rtt.count()));
    }
    return grpc::Status::OK;
}

grpc::Status LocalApi::SetDown(grpc::ServerContext*, const v1::SetDownRequest* request,
                               v1::SetDownResponse* response) {
    try {
        response->set_changed(agent_.set_down(request->down()));
        return grpc::Status::OK;
    } catch (const Error& e) {
        return {grpc::StatusCode::FAILED_PRECONDITION, e.what()};
    } catch (const std::exception& e) {
        return {grpc::StatusCode::INTERNAL, e.what()};
    }
}

grpc::Status LocalApi::Netcheck(grpc::ServerContext*, const v1::NetcheckRequest*,
                                v1::NetcheckResponse* response) {
    auto r = agent_.netcheck();
    response->set_udp(r.udp);
    response->set_nat_type(r.nat_type);
    if (r.reflexive) response->set_reflexive_endpoint(r.reflexive->to_string());
    for (const auto& s : r.stun_servers) response->add_stun_servers(s.to_string());
    response->set_port_mapping(r.port_mapping.service);
    response->set_port_mapping_detail(r.port_mapping.detail);
    response->set_ipv6_global_address(r.ipv6.global_address);
    response->set_ipv6_default_route(r.ipv6.default_route);
    response->set_ipv6_stun("not configured (the agent's STUN goes over IPv4)");
    response->set_coordinator(r.coordinator);
    response->set_coordinator_reachable(r.coordinator_connect.reachable);
    response->set_coordinator_connect_us(
        static_cast<std::uint32_t>(r.coordinator_connect.took.count()));
    response->set_coordinator_error(r.coordinator_connect.error);
    response->set_connected(r.connected);
    return grpc::Status::OK;
}

grpc::Status LocalApi::Logout(grpc::ServerContext*, const v1::LogoutRequest* request,
                              v1::LogoutResponse* response) {
    try {
        auto out = agent_.logout(request->force());
        response->set_node_id(out.node_id);
        response->set_hostname(out.hostname);
        response->set_removed(out.removed);
        response->set_coordinator_error(out.coordinator_error);
        return grpc::Status::OK;
    } catch (const CoordinatorFailure& e) {
        return {e.code(), e.what()};
    } catch (const Error& e) {
        return {grpc::StatusCode::FAILED_PRECONDITION, e.what()};
    } catch (const std::exception& e) {
        return {grpc::StatusCode::INTERNAL, e.what()};
    }
}

LocalApiServer::LocalApiServer(LocalApi& api, const std::string& socket_path) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&api);
    server_ = builder.BuildAndStart();
    if (!server_) throw Error("cannot start the local API for " + socket_path);
    listener_ = std::make_unique<local::LocalSocketServer>(*server_, socket_path);
}

LocalApiServer::~LocalApiServer() {
    listener_.reset();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace mesh::agent
