#pragma once
// One Sync stream on gRPC's callback API: reads the client's messages (challenge, hello, then
// acks and reports) and writes what the Fanout hands it, one message at a time, as raw bytes the
// fan-out encoded once for every stream. It holds no thread. Any exception ends this stream
// (UNAVAILABLE), never the process.
#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "coordinator/fanout/fanout.hpp"
#include "coordinator/fanout/rate_limits.hpp"
#include "mesh/v1/coordinator.pb.h"

namespace mesh::coord {

class CoordinatorService;

// The StreamSink side of a reactor: writes and the one Finish, safe from any thread, never
// after the reactor is done.
class ReactorSink final : public StreamSink {
  public:
    explicit ReactorSink(grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* reactor)
        : reactor_(reactor) {}
    bool write(WireMessage message) override;  // the fan-out's
    void finish(Code code, std::string message) override;
    void finish_ok();  // the client closed its side: end with OK
    // The reactor's own message (the challenge); it may overlap the fan-out's first one, which
    // then waits for it.
    bool write_own(WireMessage message);
    // The reactor's OnWriteDone; true when the completed write was one the fan-out asked for.
    bool write_completed();
    void detach();  // the reactor is done: no more calls into it
    bool finishing() const;

  private:
    bool start(WireMessage message, bool fanout);
    void finish_with(grpc::Status status);
    void finish_locked();
    struct Pending {
        grpc::ByteBuffer bytes;
        bool fanout;
    };
    mutable std::recursive_mutex mutex_;  // gRPC may call back into us on the same thread
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* reactor_;
    std::deque<Pending> pending_;  // the front is in flight
    bool finish_asked_ = false;
    bool finished_ = false;
    bool detached_ = false;
    grpc::Status status_;
};

class SyncReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
  public:
    SyncReactor(CoordinatorService& service, grpc::CallbackServerContext* context);

    void OnReadDone(bool ok) override;
    void OnWriteDone(bool ok) override;
    void OnCancel() override;
    void OnDone() override;

  private:
    void handle(const grpc::ByteBuffer& bytes);
    void on_hello(const v1::SyncRequest& first);
    void end(Code code, const std::string& message);
    void read_next();

    CoordinatorService& service_;
    std::shared_ptr<ReactorSink> sink_;
    std::string peer_;
    std::string challenge_;
    std::optional<std::uint64_t> ticket_;  // while waiting for the hello
    std::mutex session_mutex_;  // session_ is set on the read thread, used on the write one
    std::shared_ptr<Fanout::Session> session_;
    bool early_write_done_ = false;
    bool early_write_ok_ = true;
    std::string hostname_;
    TokenBucket bucket_;
    grpc::ByteBuffer read_buffer_;
};

}  // namespace mesh::coord
