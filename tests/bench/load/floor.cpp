#include "tests/bench/load/floor.hpp"

#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "kmod-bridge/files.hpp"
#include "tls_pin.hpp"

namespace mesh::load {

namespace {

constexpr const char* kSync = "/mesh.v1.Coordinator/Sync";

class FloorService;

// A held Sync stream: one message at attach, then whatever a broadcast sends.
class FloorStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
  public:
    FloorStream(FloorService& service);
    void send(const grpc::ByteBuffer& message);
    void OnReadDone(bool) override { Finish(grpc::Status::OK); }
    void OnWriteDone(bool) override {
        std::lock_guard lock(mutex_);
        writing_ = false;
    }
    void OnDone() override;

  private:
    FloorService& service_;
    std::mutex mutex_;
    bool writing_ = false;
    grpc::ByteBuffer out_;
    grpc::ByteBuffer in_;
};

// The same service the coordinator offers (the floor's clients speak to it alike): Sync holds a
// stream; Join, with the message size as its hostname, is the broadcast trigger.
class FloorService final
    : public v1::Coordinator::WithCallbackMethod_Join<
          v1::Coordinator::WithRawCallbackMethod_Sync<v1::Coordinator::Service>> {
  public:
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Sync(
        grpc::CallbackServerContext*) override;
    grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* context,
                                   const v1::JoinRequest* request, v1::JoinResponse*) override {
        broadcast(std::max<std::size_t>(
            8, std::stoul(request->hostname().empty() ? std::string("8") : request->hostname())));
        auto* reactor = context->DefaultReactor();
        reactor->Finish(grpc::Status::OK);
        return reactor;
    }
    void add(FloorStream* s) {
        std::lock_guard lock(mutex_);
        streams_.insert(s);
    }
    void remove(FloorStream* s) {
        std::lock_guard lock(mutex_);
        streams_.erase(s);
    }
    // The floor itself: the same bytes to every stream, in one loop.
    void broadcast(std::size_t size) {
        std::string bytes(size, '\0');
        bytes[0] = 0x12;  // a SyncResponse.delta header, so clients read it as a message
        grpc::Slice slice(bytes);
        grpc::ByteBuffer message(&slice, 1);
        std::lock_guard lock(mutex_);
        for (auto* s : streams_) s->send(message);
    }

  private:
    std::mutex mutex_;
    std::set<FloorStream*> streams_;
};

FloorStream::FloorStream(FloorService& service) : service_(service) {
    service_.add(this);
    std::string hello(4, '\0');
    hello[0] = 0x22;  // SyncResponse.challenge, empty
    hello[1] = 0x02;
    hello[2] = 0x0a;
    hello[3] = 0x00;
    grpc::Slice slice(hello);
    send(grpc::ByteBuffer(&slice, 1));
    StartRead(&in_);
}

void FloorStream::send(const grpc::ByteBuffer& message) {
    std::lock_guard lock(mutex_);
    if (writing_) return;  // trials are spaced; a still-busy stream just misses this one
    writing_ = true;
    out_ = message;
    StartWrite(&out_);
}

void FloorStream::OnDone() {
    service_.remove(this);
    delete this;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* FloorService::Sync(
    grpc::CallbackServerContext*) {
    return new FloorStream(*this);
}

}  // namespace

int serve_floor(int port, const std::string& cert_file, const std::string& key_file) {
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back({kb::read_file(key_file), kb::read_file(cert_file)});
    FloorService service;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::SslServerCredentials(tls));
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    if (!server) return 1;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    int received = 0;
    sigwait(&signals, &received);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return 0;
}

FloorClient::FloorClient(const std::string& address, const std::string& fingerprint, Trial& trial,
                         int ordinal)
    : trial_(trial), ordinal_(ordinal) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = tls::pinned_channel(address, fingerprint, nullptr, args);
}

void FloorClient::start() {
    ctx_.set_wait_for_ready(true);  // the floor server may still be starting
    grpc::GenericStub stub(channel_);
    stub.PrepareBidiStreamingCall(&ctx_, kSync, grpc::StubOptions(), this);
    StartRead(&read_buffer_);
    StartCall();
}

void FloorClient::OnReadDone(bool ok) {
    if (!ok) return;
    bytes_received += read_buffer_.Length();
    if (!attached) {
        attached = true;
    } else if (trial_.started_ns != 0) {
        auto& slot = trial_.seen_ns[static_cast<std::size_t>(ordinal_)];
        std::int64_t expected = 0;
        if (slot.compare_exchange_strong(expected, now_ns())) ++trial_.seen;
    }
    StartRead(&read_buffer_);
}

bool floor_broadcast(const std::shared_ptr<grpc::Channel>& channel, std::size_t size) {
    auto stub = v1::Coordinator::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::JoinRequest request;
    request.set_hostname(std::to_string(size));
    v1::JoinResponse response;
    return stub->Join(&ctx, request, &response).ok();
}

}  // namespace mesh::load
