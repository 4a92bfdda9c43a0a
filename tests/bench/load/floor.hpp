#pragma once
// The floor the coordinator's fan-out is measured against: a trivial gRPC server (its own
// process, TLS like the coordinator's) that holds N Sync streams and, on a broadcast request,
// writes one pre-encoded message of a given size to every one of them, with nothing else to do.
// What it takes for that message to reach all N clients is what gRPC, TLS and these 2 cores cost;
// the coordinator's time beyond it is its own.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "tests/bench/load/swarm.hpp"

namespace mesh::load {

// The floor server's main (the load generator re-executes itself with --floor-serve).
int serve_floor(int port, const std::string& cert_file, const std::string& key_file);

// One client stream to the floor: records when each broadcast arrives.
class FloorClient final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
  public:
    FloorClient(const std::string& address, const std::string& fingerprint, Trial& trial,
                int ordinal);
    void start();
    void cancel() { ctx_.TryCancel(); }
    void OnReadDone(bool ok) override;
    void OnDone(const grpc::Status&) override { done = true; }
    std::atomic<bool> attached{false};  // the server's first message arrived
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> bytes_received{0};

  private:
    std::shared_ptr<grpc::Channel> channel_;
    grpc::ClientContext ctx_;
    grpc::ByteBuffer read_buffer_;
    Trial& trial_;
    int ordinal_;
};

// Asks the floor server to write one `size`-byte message to every stream; returns when asked.
bool floor_broadcast(const std::shared_ptr<grpc::Channel>& channel, std::size_t size);

}  // namespace mesh::load
