#include "coordinator/sync_reactor.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "coordinator/convert.hpp"
#include "coordinator/coordinator_service.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "sync_proof.hpp"

namespace mesh::coord {

namespace {

void release_slice(void* owner) {
    delete static_cast<std::shared_ptr<const std::string>*>(owner);
}

// The message as gRPC's byte buffer, sharing the fan-out's buffers (no copy).
grpc::ByteBuffer to_byte_buffer(const WireMessage& message) {
    std::vector<grpc::Slice> slices;
    slices.reserve(message.slices.size());
    for (const auto& s : message.slices) {
        auto* owner = new std::shared_ptr<const std::string>(s.data);
        slices.emplace_back(const_cast<char*>(s.data->data() + s.offset), s.size, release_slice,
                            owner);
    }
    return grpc::ByteBuffer(slices.data(), slices.size());
}

grpc::StatusCode grpc_code(Code code) {
    return to_grpc(StatusError(code, "")).error_code();
}

std::string new_challenge() {
    std::string nonce(v1::kChallengeBytes, '\0');
    randombytes_buf(nonce.data(), nonce.size());
    return nonce;
}

}  // namespace

// ---- ReactorSink -------------------------------------------------------------------------------

bool ReactorSink::start(WireMessage message, bool fanout) {
    std::lock_guard lock(mutex_);
    if (finish_asked_ || detached_) return false;
    pending_.push_back({to_byte_buffer(message), fanout});
    if (pending_.size() == 1) reactor_->StartWrite(&pending_.front().bytes);
    return true;
}

bool ReactorSink::write(WireMessage message) {
    return start(std::move(message), true);
}

bool ReactorSink::write_own(WireMessage message) {
    return start(std::move(message), false);
}

bool ReactorSink::write_completed() {
    std::lock_guard lock(mutex_);
    if (pending_.empty()) return false;
    const bool fanout = pending_.front().fanout;
    pending_.pop_front();
    if (!pending_.empty() && !detached_) {
        reactor_->StartWrite(&pending_.front().bytes);
    } else if (pending_.empty() && finish_asked_) {
        finish_locked();
    }
    return fanout;
}

void ReactorSink::finish(Code code, std::string message) {
    finish_with(grpc::Status(grpc_code(code), message));
}

void ReactorSink::finish_ok() {
    finish_with(grpc::Status::OK);
}

void ReactorSink::finish_with(grpc::Status status) {
    std::lock_guard lock(mutex_);
    if (finish_asked_) return;
    finish_asked_ = true;
    status_ = std::move(status);
    if (pending_.empty()) finish_locked();
}

void ReactorSink::finish_locked() {
    if (finished_ || detached_) return;
    finished_ = true;
    reactor_->Finish(status_);
}

void ReactorSink::detach() {
    std::lock_guard lock(mutex_);
    detached_ = true;
}

bool ReactorSink::finishing() const {
    std::lock_guard lock(mutex_);
    return finish_asked_;
}

// ---- SyncReactor -------------------------------------------------------------------------------

SyncReactor::SyncReactor(CoordinatorService& service, grpc::CallbackServerContext* context)
    : service_(service),
      sink_(std::make_shared<ReactorSink>(this)),
      peer_(context->peer()),
      bucket_(service.limits().messages_per_second, service.limits().message_burst) {
    ticket_ = service_.admit_stream(peer_address(peer_), sink_);
    if (!ticket_) {
        spdlog::warn("event=sync_refused peer={} reason=too_many_waiting", peer_);
        sink_->finish(Code::resource_exhausted,
                      "too many Sync streams are waiting for their hello (from this address, or "
                      "in all); try again later");
        return;
    }
    challenge_ = new_challenge();
    sink_->write_own(MapMessages::challenge(challenge_));
    read_next();
}

void SyncReactor::read_next() {
    if (!sink_->finishing()) StartRead(&read_buffer_);
}

void SyncReactor::end(Code code, const std::string& message) {
    sink_->finish(code, message);
}

void SyncReactor::OnReadDone(bool ok) {
    if (!ok) {
        // The client closed its side, or the stream broke: nothing more will be read.
        if (service_.fanout().is_shutdown()) {
            end(Code::unavailable, "coordinator shutting down");
        } else {
            sink_->finish_ok();
        }
        return;
    }
    try {
        handle(read_buffer_);
    } catch (const StatusError& e) {
        spdlog::warn("event={} {} reason={}", session_ ? "sync_bad_request" : "sync_refused",
                     session_ ? "node=" + session_->node_id : "peer=" + peer_,
                     kb::log_quote(e.what()));
        end(e.code(), e.what());
        return;
    } catch (const std::exception& e) {
        // Storage trouble, or a bug: this stream ends, the coordinator and the others go on.
        spdlog::error("event=sync_failed {} error={}",
                      session_ ? "node=" + session_->node_id : "peer=" + peer_,
                      kb::log_quote(e.what()));
        end(Code::unavailable, std::string("internal error: ") + e.what());
        return;
    }
    read_next();
}

void SyncReactor::handle(const grpc::ByteBuffer& bytes) {
    if (!bucket_.take(std::chrono::steady_clock::now())) {
        throw StatusError(Code::resource_exhausted,
                          "more than " +
                              std::to_string(static_cast<int>(service_.limits().message_burst)) +
                              " messages in a burst on one Sync stream; slow down");
    }
    std::vector<grpc::Slice> slices;
    if (!bytes.Dump(&slices).ok()) throw StatusError(Code::invalid_argument, "unreadable message");
    std::string flat;
    for (const auto& s : slices) flat.append(reinterpret_cast<const char*>(s.begin()), s.size());
    v1::SyncRequest request;
    if (!request.ParseFromString(flat)) {
        throw StatusError(Code::invalid_argument, "a Sync message that is not a SyncRequest");
    }
    if (!session_) {
        on_hello(request);
        return;
    }
    service_.handle_request(*session_, request);
}

void SyncReactor::on_hello(const v1::SyncRequest& first) {
    if (ticket_) {
        service_.hello_done(*ticket_);
        ticket_.reset();
    }
    if (!first.has_hello()) {
        throw StatusError(Code::invalid_argument, "the first Sync message must be a hello");
    }
    NodeRecord node = service_.authenticate(first.hello(), challenge_);
    std::uint64_t client_version = first.hello().last_applied_version();
    auto& registry = service_.registry();
    // A replica whose watch is a moment behind the one the agent came from: wait for it rather
    // than answer with a full map of an older version. A version this far ahead is another
    // database.
    if (client_version > registry.version() &&
        !(registry.store().shared() &&
          registry.wait_for_version(client_version, std::chrono::milliseconds(1000)))) {
        client_version = 0;
    }
    if (first.hello().endpoints_size() > 0) {
        service_.report_endpoints(node.id, endpoints_from_proto(first.hello().endpoints(),
                                                                service_.registry().network()));
    }
    hostname_ = node.hostname;
    auto session = service_.fanout().attach(node.id, client_version, sink_);
    bool completed_early = false;
    {
        // The fan-out may have written (and gRPC completed) the first message before attach
        // returned: that completion waited for the session.
        std::lock_guard lock(session_mutex_);
        session_ = session;
        completed_early = std::exchange(early_write_done_, false);
    }
    if (completed_early) service_.fanout().write_done(session, early_write_ok_);
    service_.registry().touch(node.id);
    spdlog::info("event=sync_open node={} hostname={} from_version={} peer={}", node.id,
                 node.hostname, client_version, peer_);
}

void SyncReactor::OnWriteDone(bool ok) {
    const bool fanout = sink_->write_completed();
    if (!ok) end(Code::cancelled, "write failed");
    if (!fanout) return;
    std::shared_ptr<Fanout::Session> session;
    {
        std::lock_guard lock(session_mutex_);
        if (!session_) {
            early_write_done_ = true;  // on_hello reports it once it holds the session
            early_write_ok_ = ok;
            return;
        }
        session = session_;
    }
    service_.fanout().write_done(session, ok);
}

void SyncReactor::OnCancel() {
    end(Code::cancelled, "cancelled");
}

void SyncReactor::OnDone() {
    if (ticket_) service_.hello_done(*ticket_);
    if (session_) {
        // last_seen first: a reaper pass between the two must not see an ephemeral node that
        // is disconnected with the last_seen of its stream's start.
        service_.registry().touch(session_->node_id);
        service_.fanout().detach(session_);
        spdlog::info("event=sync_closed node={} hostname={}", session_->node_id, hostname_);
    }
    sink_->detach();
    delete this;
}

}  // namespace mesh::coord
