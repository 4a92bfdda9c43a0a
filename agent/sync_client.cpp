#include "agent/sync_client.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "agent/backoff.hpp"
#include "agent/convert.hpp"
#include "agent/coordinator_channel.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "sync_proof.hpp"

namespace mesh::agent {

SyncClient::SyncClient(CoordinatorList coordinators, std::optional<std::size_t> first,
                       std::string node_id, const Keys& keys, Handlers handlers,
                       FailoverTiming timing)
    : coordinators_(std::move(coordinators)),
      rotation_(replica_order(coordinators_.size(), first, system_random()), timing,
                system_random()),
      node_id_(std::move(node_id)),
      keys_(keys),
      handlers_(std::move(handlers)) {
    if (coordinators_.empty()) throw Error("no coordinator to sync with");
    use_replica(rotation_.current());
}

void SyncClient::use_replica(std::size_t index) {
    replica_ = index;
    observed_ = std::make_shared<tls::PinObservation>();
    const auto& c = coordinators_[index];
    stub_ = v1::Coordinator::NewStub(coordinator_channel(c.address, c.fingerprint, observed_));
}

SyncClient::~SyncClient() {
    stop();
}

void SyncClient::start() {
    thread_ = std::thread([this] { run(); });
}

void SyncClient::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        if (context_) context_->TryCancel();
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void SyncClient::reconnect() {
    std::lock_guard lock(mutex_);
    reconnect_ = true;
    if (context_) context_->TryCancel();
    wake_.notify_all();
}

// True (and the flag cleared) when reconnect() was asked for; the caller then connects anew.
bool SyncClient::take_reconnect() {
    std::lock_guard lock(mutex_);
    return std::exchange(reconnect_, false);
}

void SyncClient::run() {
    bool resync = false;
    while (true) {
        Outcome outcome = run_stream(resync ? 0 : handlers_.applied_version());
        if (outcome.removed) {
            handlers_.on_removed();
            return;
        }
        resync = outcome.resync;
        const std::size_t from = replica_;
        handlers_.on_status(false, outcome.error, from);
        if (take_reconnect()) {  // our network changed, not the replica: the same one, at once
            spdlog::info("event=sync_reconnect coordinator={} reason=network_changed",
                         coordinators_[from].address);
            use_replica(from);
            continue;
        }
        // A map out of step is ours to repair, not the replica's fault: stay on it.
        auto step = outcome.resync ? rotation_.again() : rotation_.failed(outcome.established);
        std::unique_lock lock(mutex_);
        if (stopping_) return;
        log_down(step, from, outcome);
        wake_.wait_for(lock, step.delay, [this] { return stopping_ || reconnect_; });
        if (stopping_) return;
        lock.unlock();
        // A new channel for another replica; for the same one gRPC's own reconnect goes on,
        // unless our network changed meanwhile.
        if (take_reconnect() || step.moved) use_replica(step.replica);
    }
}

// One line per stream that ended: a failover names both replicas, a retry of the only one is the
// single coordinator's sync_down.
void SyncClient::log_down(const CoordinatorRotation::Step& step, std::size_t from,
                          const Outcome& outcome) {
    if (step.moved) {
        spdlog::warn("event=coordinator_failover from={} to={} reason={} retry_in_ms={} attempt={}",
                     coordinators_[from].address, coordinators_[step.replica].address,
                     kb::log_quote(outcome.error), step.delay.count(), rotation_.failures());
        return;
    }
    spdlog::warn("event=sync_down coordinator={} error={} retry_in_ms={} attempt={}",
                 coordinators_[from].address, kb::log_quote(outcome.error), step.delay.count(),
                 rotation_.failures());
}

// Nothing goes before the hello: the coordinator ends a stream whose first message is not one.
bool SyncClient::write(const v1::SyncRequest& request) {
    std::lock_guard lock(write_mutex_);
    if (!stream_ || (!hello_sent_ && !request.has_hello())) return false;
    bool ok = stream_->Write(request);
    if (ok && request.has_hello()) hello_sent_ = true;
    return ok;
}

bool SyncClient::report_endpoints(const std::vector<std::string>& endpoints,
                                  const std::string& relay, NatType nat) {
    v1::SyncRequest request;
    for (const auto& e : endpoints) request.mutable_endpoints()->add_endpoints(e);
    request.mutable_endpoints()->set_relay(relay);
    request.mutable_endpoints()->set_nat(to_proto(nat));
    return write(request);
}

bool SyncClient::request_relays() {
    v1::SyncRequest request;
    request.mutable_relay_credentials();
    return write(request);
}

bool SyncClient::rotate_key(const Key& wireguard_public) {
    v1::SyncRequest request;
    request.mutable_rotate_key()->set_wireguard_public_key(wireguard_public.bytes.data(), 32);
    return write(request);
}

bool SyncClient::report_paths(const PathReport& report) {
    v1::SyncRequest request;
    *request.mutable_paths() = to_proto(report);
    return write(request);
}

SyncClient::Outcome SyncClient::run_stream(std::uint64_t from_version) {
    Outcome outcome;
    partial_full_.reset();  // chunks of a map from an earlier stream are of no use
    full_chunks_ = 0;
    full_bytes_ = 0;
    grpc::ClientContext context;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return outcome;
        if (reconnect_) {  // asked for while between streams: not on the old connection
            outcome.error = "reconnecting";
            return outcome;
        }
        context_ = &context;
    }
    auto stream = stub_->Sync(&context);
    {
        std::lock_guard lock(write_mutex_);
        stream_ = stream.get();
        hello_sent_ = false;
    }
    // The coordinator speaks first: a fresh challenge, which the hello signs.
    v1::SyncResponse challenge;
    bool sent = stream->Read(&challenge) && challenge.has_challenge() &&
                challenge.challenge().nonce().size() == v1::kChallengeBytes;
    if (sent) {
        v1::SyncRequest hello;
        auto* h = hello.mutable_hello();
        h->set_node_id(node_id_);
        // Names the replica it goes to: a hello recorded by one verifies at no other.
        h->set_signature(keys_.sign(v1::sync_proof_message(
            coordinators_[replica_].fingerprint, node_id_, challenge.challenge().nonce())));
        h->set_last_applied_version(from_version);
        for (const auto& e : handlers_.endpoints()) h->add_endpoints(e);
        sent = write(hello);
    }
    if (sent && handlers_.paths) {
        v1::SyncRequest paths;
        *paths.mutable_paths() = to_proto(handlers_.paths());
        sent = write(paths);
    }
    if (sent && handlers_.on_relays) sent = request_relays();
    if (sent) {
        v1::SyncResponse message;
        while (stream->Read(&message)) {
            if (!outcome.established) {
                outcome.established = true;
                handlers_.on_status(true, "", replica_);
                spdlog::info("event=sync_up coordinator={} from_version={}",
                             coordinators_[replica_].address, from_version);
            }
            if (!handle(message, outcome)) {
                context.TryCancel();
                break;
            }
        }
    }
    {
        std::lock_guard lock(write_mutex_);
        stream_ = nullptr;
        hello_sent_ = false;
    }
    grpc::Status status = stream->Finish();
    {
        std::lock_guard lock(mutex_);
        context_ = nullptr;
    }
    // Refused at the hello: removed (NOT_FOUND) or the key expired (PERMISSION_DENIED); only a
    // new join helps. After the hello, PERMISSION_DENIED refuses one request (a key rotation).
    if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
        (status.error_code() == grpc::StatusCode::PERMISSION_DENIED && !outcome.established)) {
        outcome.removed = true;
    }
    {
        std::lock_guard lock(observed_->mutex);
        if (observed_->mismatch) {
            outcome.error =
                tls::mismatch_message(coordinators_[replica_].fingerprint, observed_->presented);
        }
    }
    if (outcome.error.empty()) {
        outcome.error = status.ok() ? "stream closed by the coordinator"
                                    : status.error_message() + " (code " +
                                          std::to_string(status.error_code()) + ")";
    }
    return outcome;
}

// Returns false when the stream must be dropped (resync, removal or a malformed message).
bool SyncClient::handle(const v1::SyncResponse& message, Outcome& outcome) {
    if (message.has_relays()) {
        if (handlers_.on_relays) handlers_.on_relays(message.relays());
        return true;
    }
    if (partial_full_ && !message.has_full()) {
        outcome.error = "the coordinator interrupted a full map's chunks";
        outcome.resync = true;
        return false;
    }
    if (message.has_ready()) {
        const auto& r = message.ready();
        handlers_.on_ready({r.initiate().begin(), r.initiate().end()},
                           {r.respond().begin(), r.respond().end()});
        return true;
    }
    MapUpdate update;
    try {
        if (message.has_full()) {
            // A large map comes in chunks (NetMap.continued): gathered, applied at the last.
            // The first chunk carries self and the network; later ones only peers.
            MapUpdate chunk;
            if (partial_full_) {
                chunk.version = message.full().version();
                for (const auto& p : message.full().peers())
                    chunk.upserted.push_back(from_proto(p));
            } else {
                chunk = from_proto(message.full());
            }
            full_chunks_ += 1;
            full_bytes_ += message.ByteSizeLong();
            if (partial_full_) {
                if (chunk.version != partial_full_->version) {
                    outcome.error = "a full map's chunks name different versions";
                    outcome.resync = true;
                    partial_full_.reset();
                    return false;
                }
                for (auto& p : chunk.upserted) partial_full_->upserted.push_back(std::move(p));
            } else {
                partial_full_ = std::move(chunk);
            }
            if (message.full().continued()) return true;
            update = std::move(*partial_full_);
            partial_full_.reset();
            spdlog::info("event=full_map version={} peers={} chunks={} bytes={}", update.version,
                         update.upserted.size(), full_chunks_, full_bytes_);
            full_chunks_ = 0;
            full_bytes_ = 0;
        } else if (message.has_delta()) {
            update = from_proto(message.delta());
        } else {
            return true;  // a message kind from a newer coordinator: ignore
        }
    } catch (const Error& e) {
        outcome.error = std::string("malformed map from the coordinator: ") + e.what();
        outcome.resync = true;
        return false;
    }
    switch (handlers_.on_map(update)) {
        case Verdict::removed:
            outcome.removed = true;
            outcome.error = "this node was removed by the operator";
            return false;
        case Verdict::resync:
            outcome.resync = true;
            outcome.error = "map out of step; resyncing";
            return false;
        case Verdict::applied: {
            v1::SyncRequest ack;
            ack.mutable_ack()->set_version(update.version);
            return write(ack);
        }
    }
    return true;
}

}  // namespace mesh::agent
