#include "coordinator/coordinator_service.hpp"

#include <spdlog/spdlog.h>

#include <fmt/ranges.h>

#include "coordinator/convert.hpp"
#include "coordinator/machine_proof.hpp"
#include "coordinator/node_paths.hpp"
#include "coordinator/sync_reactor.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "sync_proof.hpp"

namespace mesh::coord {

CoordinatorService::CoordinatorService(Registry& registry, Fanout& fanout, std::string fingerprint,
                                       ServiceLimits limits)
    : registry_(registry),
      fanout_(fanout),
      fingerprint_(std::move(fingerprint)),
      limits_(limits),
      gate_(limits.gate),
      endpoints_(limits.endpoint_interval),
      work_(limits.work_queue) {}

void CoordinatorService::start() {
    work_.start();
    gate_thread_ = std::thread([this] { run_gate(); });
    flusher_thread_ = std::thread([this] { run_flusher(); });
}

CoordinatorService::~CoordinatorService() {
    {
        std::lock_guard lock(gate_mutex_);
        stopping_ = true;
    }
    {
        std::lock_guard lock(endpoints_mutex_);  // the flusher waits on this one
    }
    gate_wake_.notify_all();
    endpoints_wake_.notify_all();
    if (gate_thread_.joinable()) gate_thread_.join();
    if (flusher_thread_.joinable()) flusher_thread_.join();
    try {
        flush_endpoints();  // what was reported before the end
    } catch (const std::exception& e) {
        spdlog::error("event=endpoints_failed error={}", kb::log_quote(e.what()));
    }
}

// ---- Join --------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* CoordinatorService::Join(grpc::CallbackServerContext* context,
                                                   const v1::JoinRequest* request,
                                                   v1::JoinResponse* response) {
    auto* reactor = context->DefaultReactor();
    const std::string peer = context->peer();
    bool queued = work_.post([this, reactor, request, response, peer] {
        grpc::Status status;
        JoinOutcome outcome = JoinOutcome::ok;
        try {
            NodeRecord node = admit(*request, response);
            spdlog::info("event=join node={} hostname={} ipv4={} tags={} ephemeral={} peer={}",
                         node.id, node.hostname, node.ipv4.to_string(), fmt::join(node.tags, ","),
                         node.ephemeral, peer);
        } catch (const StatusError& e) {
            spdlog::warn("event=join_refused peer={} reason={}", peer, kb::log_quote(e.what()));
            status = to_grpc(e);
            outcome = join_outcome(e);
        } catch (const std::exception& e) {
            spdlog::error("event=join_failed peer={} error={}", peer, kb::log_quote(e.what()));
            status = {grpc::StatusCode::UNAVAILABLE, std::string("storage error: ") + e.what()};
            outcome = JoinOutcome::other;
        }
        if (metrics_) metrics_->join(outcome);
        reactor->Finish(status);
    });
    if (!queued) {
        if (metrics_) metrics_->join(JoinOutcome::busy);
        spdlog::warn("event=join_refused peer={} reason=busy queue={}", peer, work_.size());
        reactor->Finish({grpc::StatusCode::UNAVAILABLE,
                         "the coordinator has too many joins waiting; retry with backoff"});
    }
    return reactor;
}

NodeRecord CoordinatorService::admit(const v1::JoinRequest& request, v1::JoinResponse* response) {
    JoinParams params;
    params.token = request.token();
    params.wireguard_key = key_from_bytes(request.wireguard_public_key(), "wireguard_public_key");
    params.machine_key = key_from_bytes(request.machine_public_key(), "machine_public_key");
    params.machine_signature = request.machine_signature();
    params.coordinator_fingerprint = fingerprint_;
    params.hostname = request.hostname();
    params.endpoints = endpoints_from_proto(request.endpoints(), registry_.network());
    params.requested_tags = {request.requested_tags().begin(), request.requested_tags().end()};
    params.container = parse_container_request(request.container_subnet());
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
    for (const auto& p : node.container_subnets) response->add_container_subnets(p.to_string());
    return node;
}

// ---- Leave -------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* CoordinatorService::Leave(grpc::CallbackServerContext* context,
                                                    const v1::LeaveRequest* request,
                                                    v1::LeaveResponse* response) {
    auto* reactor = context->DefaultReactor();
    const std::string peer = context->peer();
    bool queued = work_.post([this, reactor, request, response, peer] {
        grpc::Status status;
        try {
            response->set_node_id(leave(*request));
            spdlog::info("event=node_left node={} peer={}", response->node_id(), peer);
        } catch (const StatusError& e) {
            spdlog::warn("event=leave_refused peer={} reason={}", peer, kb::log_quote(e.what()));
            status = to_grpc(e);
        } catch (const std::exception& e) {
            spdlog::error("event=leave_failed peer={} error={}", peer, kb::log_quote(e.what()));
            status = {grpc::StatusCode::UNAVAILABLE, std::string("storage error: ") + e.what()};
        }
        reactor->Finish(status);
    });
    if (!queued) {
        spdlog::warn("event=leave_refused peer={} reason=busy queue={}", peer, work_.size());
        reactor->Finish({grpc::StatusCode::UNAVAILABLE,
                         "the coordinator has too many requests waiting; retry with backoff"});
    }
    return reactor;
}

std::string CoordinatorService::leave(const v1::LeaveRequest& request) {
    // The same removal as the operator's (AdminService::RemoveNode): the map change reaches
    // every other node, and the node's own stream, through the fan-out.
    auto id = registry_.leave(request.node_id(), request.signature(), fingerprint_);
    fanout_.forget(id);
    return id;
}

// ---- Sync --------------------------------------------------------------------------------------

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* CoordinatorService::Sync(
    grpc::CallbackServerContext* context) {
    return new SyncReactor(*this, context);
}

NodeRecord CoordinatorService::authenticate(const v1::Hello& hello, const std::string& challenge) {
    if (hello.node_id().empty() || hello.node_id().size() > 64) {
        throw StatusError(Code::invalid_argument, "the hello's node_id must be 1..64 bytes");
    }
    if (hello.signature().empty()) {
        throw StatusError(Code::unauthenticated,
                          "the hello carries no signature over the stream's challenge");
    }
    auto node = registry_.node(hello.node_id());
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

void CoordinatorService::handle_request(const Fanout::Session& session,
                                        const v1::SyncRequest& req) {
    const std::string& id = session.node_id;
    if (req.has_ack()) {
        fanout_.ack(session, req.ack().version());
    } else if (req.has_endpoints()) {
        CandidateReport report;
        report.endpoints = endpoints_from_proto(req.endpoints().endpoints(), registry_.network());
        report.relay_given = true;
        report.relay = relay_from_proto(req.endpoints().relay(), registry_.network());
        report.nat = nat_from_proto(req.endpoints().nat());
        registry_.check_live(id);
        report_candidates(id, std::move(report));
    } else if (req.has_paths()) {
        record_paths(session, paths_from_proto(req.paths()));
    } else if (req.has_rotate_key()) {
        auto key = key_from_bytes(req.rotate_key().wireguard_public_key(), "wireguard_public_key");
        auto node = registry_.rotate_key(id, key);
        spdlog::info("event=key_rotated node={} key_version={} key_expires_at={}", id,
                     node.key_version, node.key_expires_at);
    } else if (req.has_relay_credentials()) {
        send_relay_credentials(session);
    } else if (req.has_hello()) {
        throw StatusError(Code::invalid_argument, "a second hello on one Sync stream");
    }
}

void CoordinatorService::send_relay_credentials(const Fanout::Session& session) {
    registry_.check_live(session.node_id);
    v1::SyncResponse response;
    *response.mutable_relays() = relay_credentials(relays_, session.node_id, registry_.now());
    WireMessage message;
    message.append(response.SerializeAsString());
    if (fanout_.post(session, std::move(message))) {
        spdlog::debug("event=relay_credentials node={} servers={} expires_at={}", session.node_id,
                      response.relays().servers_size(), response.relays().expires_at());
    }
}

void CoordinatorService::record_paths(const Fanout::Session& session, NodePaths paths) {
    // The contract ignores ids that are not peers: they are neither kept nor logged.
    registry_.with_map([&](const MeshMap& map) {
        std::erase_if(paths.peers, [&](const PeerPath& p) {
            return p.node_id == session.node_id || !map.find(p.node_id);
        });
        return 0;
    });
    std::optional<NodePaths> before;
    if (!fanout_.set_paths(session, paths, before)) return;  // a replaced stream
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

// ---- the hello gate ----------------------------------------------------------------------------

std::optional<std::uint64_t> CoordinatorService::admit_stream(const std::string& source,
                                                              std::shared_ptr<StreamSink> sink) {
    std::lock_guard lock(gate_mutex_);
    if (stopping_) return std::nullopt;
    auto ticket = gate_.admit(source, StreamGate::Clock::now());
    if (!ticket) return std::nullopt;
    waiting_[*ticket] = std::move(sink);
    gate_wake_.notify_all();
    return ticket;
}

void CoordinatorService::hello_done(std::uint64_t ticket) {
    std::lock_guard lock(gate_mutex_);
    gate_.release(ticket);
    waiting_.erase(ticket);
}

void CoordinatorService::run_gate() {
    std::unique_lock lock(gate_mutex_);
    while (!stopping_) {
        auto next = gate_.next_deadline();
        if (next) {
            gate_wake_.wait_until(lock, *next);
        } else {
            gate_wake_.wait(lock);
        }
        std::vector<std::shared_ptr<StreamSink>> late;
        for (auto ticket : gate_.expired(StreamGate::Clock::now())) {
            auto it = waiting_.find(ticket);
            if (it == waiting_.end()) continue;
            late.push_back(std::move(it->second));
            waiting_.erase(it);
        }
        if (late.empty()) continue;
        lock.unlock();
        for (auto& sink : late) {
            sink->finish(Code::deadline_exceeded,
                         "no hello within " +
                             std::to_string(limits_.gate.hello_deadline.count() / 1000) +
                             " s of the challenge");
        }
        spdlog::warn("event=sync_hello_timeout streams={}", late.size());
        lock.lock();
    }
}

// ---- endpoint reports --------------------------------------------------------------------------

void CoordinatorService::report_endpoints(const std::string& node_id,
                                          std::vector<Endpoint> endpoints) {
    report_candidates(node_id, CandidateReport{std::move(endpoints), false, std::nullopt});
}

void CoordinatorService::report_candidates(const std::string& node_id, CandidateReport report) {
    {
        std::lock_guard lock(endpoints_mutex_);
        endpoints_.report(node_id, std::move(report), EndpointCoalescer::Clock::now());
    }
    endpoints_wake_.notify_all();
}

void CoordinatorService::flush_endpoints() {
    std::vector<EndpointUpdate> due;
    {
        std::lock_guard lock(endpoints_mutex_);
        for (auto& [id, report] : endpoints_.take_due(EndpointCoalescer::Clock::now())) {
            due.push_back({id, std::move(report)});
        }
    }
    if (due.empty()) return;
    try {
        auto changed = registry_.update_endpoints_batch(due);
        if (spdlog::should_log(spdlog::level::debug)) {
            spdlog::debug("event=endpoints_written reports={} changed={}", due.size(),
                          changed.size());
        }
    } catch (const std::exception& e) {
        const auto* status = dynamic_cast<const StatusError*>(&e);
        const bool retry = status && status->code() == Code::unavailable;
        spdlog::error("event=endpoints_failed reports={} retry={} error={}", due.size(), retry,
                      kb::log_quote(e.what()));
        if (retry) {
            // The store (etcd) is out of reach: agents report only what changes, so a report
            // dropped now would leave their peers on stale endpoints once it is back.
            std::lock_guard lock(endpoints_mutex_);
            for (auto& u : due) endpoints_.restore(u.node_id, std::move(u.report));
        }
    }
}

void CoordinatorService::run_flusher() {
    std::unique_lock lock(endpoints_mutex_);
    for (;;) {
        {
            std::lock_guard gate(gate_mutex_);
            if (stopping_) return;
        }
        auto due = endpoints_.next_due();
        if (!due) {
            endpoints_wake_.wait_for(lock, std::chrono::milliseconds(500));
        } else if (*due > EndpointCoalescer::Clock::now()) {
            endpoints_wake_.wait_until(lock, *due);
        }
        lock.unlock();
        flush_endpoints();
        lock.lock();
    }
}

}  // namespace mesh::coord
