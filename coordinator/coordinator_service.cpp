#include "coordinator/coordinator_service.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <fmt/ranges.h>

#include <atomic>
#include <thread>

#include "coordinator/convert.hpp"
#include "coordinator/machine_proof.hpp"
#include "coordinator/node_paths.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "sync_proof.hpp"

namespace mesh::coord {

namespace {
constexpr auto kIdleWakeup = std::chrono::seconds(10);

std::string new_challenge() {
    std::string nonce(v1::kChallengeBytes, '\0');
    randombytes_buf(nonce.data(), nonce.size());
    return nonce;
}

}  // namespace

grpc::Status CoordinatorService::Join(grpc::ServerContext* context, const v1::JoinRequest* request,
                                      v1::JoinResponse* response) {
    try {
        NodeRecord node = admit(*request, response);
        spdlog::info("event=join node={} hostname={} ipv4={} tags={} ephemeral={} peer={}", node.id,
                     node.hostname, node.ipv4.to_string(), fmt::join(node.tags, ","),
                     node.ephemeral, context->peer());
        return grpc::Status::OK;
    } catch (const StatusError& e) {
        spdlog::warn("event=join_refused peer={} reason={}", context->peer(),
                     kb::log_quote(e.what()));
        return to_grpc(e);
    } catch (const std::exception& e) {
        spdlog::error("event=join_failed peer={} error={}", context->peer(),
                      kb::log_quote(e.what()));
        return {grpc::StatusCode::UNAVAILABLE, std::string("storage error: ") + e.what()};
    }
}

NodeRecord CoordinatorService::admit(const v1::JoinRequest& request, v1::JoinResponse* response) {
    JoinParams params;
    params.token = request.token();
    params.wireguard_key = key_from_bytes(request.wireguard_public_key(), "wireguard_public_key");
    params.machine_key = key_from_bytes(request.machine_public_key(), "machine_public_key");
    params.machine_signature = request.machine_signature();
    params.coordinator_fingerprint = fingerprint_;
    params.hostname = request.hostname();
    params.endpoints = endpoints_from_proto(request.endpoints());
    params.requested_tags = {request.requested_tags().begin(), request.requested_tags().end()};
    NodeRecord node = registry_.join(params);
    response->set_node_id(node.id);
    response->set_hostname(node.hostname);
    for (const auto& a : interface_addresses(node, registry_.network())) {
        response->add_addresses(a.to_string());
    }
    *response->mutable_network() = to_proto(registry_.network());
    for (const auto& t : node.tags) response->add_tags(t);
    response->set_key_expires_at(node.key_expires_at);
    response->set_ephemeral(node.ephemeral);
    return node;
}

NodeRecord CoordinatorService::authenticate(const v1::Hello& hello, const std::string& challenge) {
    if (hello.node_id().empty() || hello.node_id().size() > 64) {
        throw StatusError(Code::invalid_argument, "the hello's node_id must be 1..64 bytes");
    }
    if (hello.signature().empty()) {
        throw StatusError(Code::unauthenticated,
                          "the hello carries no signature over the stream's challenge");
    }
    auto node = registry_.store().node(hello.node_id());
    if (!node) {
        // Not echoed: nothing in the hello is authenticated yet.
        throw StatusError(Code::not_found,
                          "the hello's node does not exist (removed?); join again");
    }
    // Verified before anything about the node is told (expiry below), so only its key holder
    // learns it.
    verify_machine_signature(node->machine_key, hello.signature(),
                             v1::sync_proof_message(fingerprint_, hello.node_id(), challenge),
                             "the hello's signature over this stream's challenge");
    if (key_lapsed(*node, registry_.now())) {
        throw StatusError(Code::permission_denied,
                          "node " + node->id + "'s key expired; join again with a token");
    }
    return *node;
}

grpc::Status CoordinatorService::Sync(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* stream) {
    const std::string challenge = new_challenge();
    {
        v1::SyncResponse message;
        message.mutable_challenge()->set_nonce(challenge);
        if (!stream->Write(message)) return {grpc::StatusCode::CANCELLED, "stream closed"};
    }
    v1::SyncRequest first;
    if (!stream->Read(&first)) return {grpc::StatusCode::CANCELLED, "stream closed before hello"};
    if (!first.has_hello()) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "the first Sync message must be a hello"};
    }
    NodeRecord node;
    std::uint64_t client_version = first.hello().last_applied_version();
    try {
        node = authenticate(first.hello(), challenge);
        if (first.hello().endpoints_size() > 0) {
            registry_.update_endpoints(node.id, endpoints_from_proto(first.hello().endpoints()));
        }
    } catch (const StatusError& e) {
        spdlog::warn("event=sync_refused peer={} reason={}", context->peer(),
                     kb::log_quote(e.what()));
        return to_grpc(e);
    }
    if (client_version > registry_.store().version()) client_version = 0;
    hub_.set_applied(node.id, client_version);
    auto session = hub_.attach(node.id);
    registry_.touch(node.id);
    spdlog::info("event=sync_open node={} hostname={} from_version={} peer={}", node.id,
                 node.hostname, client_version, context->peer());

    std::atomic<bool> reader_done{false};
    grpc::Status reader_status;  // written by the reader before reader_done
    std::thread reader([&] {
        reader_status = read_requests(stream, *session);
        reader_done = true;
        hub_.publish();
    });

    stream_map(context, stream, session, client_version, reader_done);
    if (!reader_done) context->TryCancel();  // unblocks the reader if the client is still there
    reader.join();
    hub_.detach(session);
    try {
        registry_.touch(node.id);
    } catch (const std::exception&) {
        // removed meanwhile, or storage trouble: last_seen is bookkeeping only
    }
    spdlog::info("event=sync_closed node={} hostname={}", node.id, node.hostname);
    if (!reader_status.ok()) return reader_status;
    if (hub_.is_shutdown()) return {grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"};
    return grpc::Status::OK;
}

void CoordinatorService::handle_request(const Hub::Session& session, const v1::SyncRequest& req) {
    const std::string& id = session.node_id;
    if (req.has_ack()) {
        hub_.set_applied(id, std::min(req.ack().version(), registry_.store().version()));
    } else if (req.has_endpoints()) {
        registry_.update_endpoints(id, endpoints_from_proto(req.endpoints().endpoints()));
    } else if (req.has_paths()) {
        record_paths(session, paths_from_proto(req.paths()));
    } else if (req.has_rotate_key()) {
        auto key = key_from_bytes(req.rotate_key().wireguard_public_key(), "wireguard_public_key");
        auto node = registry_.rotate_key(id, key);
        spdlog::info("event=key_rotated node={} key_version={} key_expires_at={}", id,
                     node.key_version, node.key_expires_at);
    } else if (req.has_hello()) {
        throw StatusError(Code::invalid_argument, "a second hello on one Sync stream");
    }
}

grpc::Status CoordinatorService::read_requests(
    grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* stream,
    const Hub::Session& session) {
    const std::string& id = session.node_id;
    v1::SyncRequest req;
    try {
        while (stream->Read(&req)) handle_request(session, req);
    } catch (const StatusError& e) {
        spdlog::warn("event=sync_bad_request node={} error={}", id, kb::log_quote(e.what()));
        return to_grpc(e);
    } catch (const std::exception& e) {
        spdlog::error("event=sync_failed node={} error={}", id, kb::log_quote(e.what()));
        return {grpc::StatusCode::UNAVAILABLE, std::string("storage error: ") + e.what()};
    }
    return grpc::Status::OK;
}

void CoordinatorService::record_paths(const Hub::Session& session, NodePaths paths) {
    // The contract ignores ids that are not peers: they are neither kept nor logged.
    std::erase_if(paths.peers, [&](const PeerPath& p) {
        return p.node_id == session.node_id || !registry_.store().node(p.node_id);
    });
    std::optional<NodePaths> before;
    if (!hub_.set_paths(session, paths, before)) return;  // a replaced stream
    auto changes = path_changes(before, paths);
    if (changes.nat_changed) {
        spdlog::info("event=nat node={} nat={} reflexive={}", session.node_id, nat_name(paths.nat),
                     paths.reflexive ? paths.reflexive->to_string() : "-");
    }
    for (const auto& peer : changes.lost_direct_path) {
        std::uint64_t suppressed = 0;
        {
            std::lock_guard lock(warnings_mutex_);
            if (!warnings_.allow(session.node_id, registry_.now(), suppressed)) continue;
        }
        if (suppressed) {
            spdlog::warn("event=no_direct_path node={} peer={} suppressed_before={}",
                         session.node_id, peer, suppressed);
        } else {
            spdlog::warn("event=no_direct_path node={} peer={}", session.node_id, peer);
        }
    }
}

void CoordinatorService::stream_map(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* stream,
    const std::shared_ptr<Hub::Session>& session, std::uint64_t client_version,
    const std::atomic<bool>& reader_done) {
    SyncSession logic(session->node_id, client_version);
    auto applied = [this](const std::string& id) { return hub_.applied(id); };
    while (!reader_done && !session->replaced && !hub_.is_shutdown() && !context->IsCancelled()) {
        std::uint64_t seen = hub_.epoch();
        try {
            if (auto message = logic.next_map(registry_.store())) {
                if (!stream->Write(to_proto(*message, registry_.network()))) return;
            }
        } catch (const StatusError& e) {
            // Removed while connected: tell the agent in-band, since cancelling drops the status.
            v1::SyncResponse bye;
            bye.mutable_delta()->set_from_version(logic.sent_version());
            bye.mutable_delta()->set_version(registry_.store().version());
            bye.mutable_delta()->add_removed(session->node_id);
            stream->Write(bye);
            hub_.forget(session->node_id);
            spdlog::info("event=sync_removed node={}", session->node_id);
            return;
        }
        auto ready = logic.newly_ready(applied);
        if (!ready.empty()) {
            v1::SyncResponse msg;
            for (auto& peer : ready) {
                if (peer.initiate) {
                    msg.mutable_ready()->add_initiate(peer.node_id);
                } else {
                    msg.mutable_ready()->add_respond(peer.node_id);
                }
            }
            if (!stream->Write(msg)) return;
        }
        hub_.wait(*session, seen,
                  std::chrono::duration_cast<std::chrono::milliseconds>(kIdleWakeup));
    }
}

}  // namespace mesh::coord
