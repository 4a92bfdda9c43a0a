#pragma once
// Keeps the one Sync stream to the coordinator open: proves the machine key, resumes from the
// last applied version, hands maps and readiness to the agent, acknowledges what the agent
// applied, and reconnects with jittered exponential backoff. With several replicas, a stream that
// cannot be opened or breaks moves on to the next (CoordinatorRotation); every replica agrees on
// map versions, so the stream resumes there from the same version without a full map. Runs on
// its own thread; one stream at a time.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/coordinator_list.hpp"
#include "agent/coordinator_rotation.hpp"
#include "agent/keys.hpp"
#include "agent/netmap.hpp"
#include "agent/path_engine.hpp"
#include "mesh/v1/coordinator.grpc.pb.h"
#include "tls_pin.hpp"

namespace mesh::agent {

class SyncClient {
  public:
    enum class Verdict { applied, resync, removed };
    struct Handlers {
        std::function<std::uint64_t()> applied_version;
        std::function<std::vector<std::string>()> endpoints;
        std::function<Verdict(const MapUpdate&)> on_map;  // applies to the device
        std::function<void(const std::vector<std::string>& initiate,
                           const std::vector<std::string>& respond)>
            on_ready;
        // The stream on coordinators[replica] came up, or ended (error says why).
        std::function<void(bool connected, const std::string& error, std::size_t replica)>
            on_status;
        std::function<void()> on_removed;
        std::function<PathReport()> paths;  // sent right after each hello
        // Relay credentials the coordinator answered (asked for after each hello and by
        // request_relays()); may be null.
        std::function<void(const v1::RelayCredentials&)> on_relays;
    };

    // coordinators: not empty. first: the replica to start with (the one the join went
    // through); nullopt = a random one. The others follow in a random order of this client's.
    SyncClient(CoordinatorList coordinators, std::optional<std::size_t> first, std::string node_id,
               const Keys& keys, Handlers handlers, FailoverTiming timing = {});
    ~SyncClient();
    SyncClient(const SyncClient&) = delete;
    SyncClient& operator=(const SyncClient&) = delete;

    void start();
    void stop();  // cancels the stream and joins the thread; idempotent
    // Sends the candidate list if a stream is open (else the next hello carries it).
    // Sends the candidates and the relayed address ("" = none) if a stream is open and its hello
    // went out; false otherwise (the next hello carries the candidates).
    bool report_endpoints(const std::vector<std::string>& endpoints, const std::string& relay = {},
                          NatType nat = NatType::unknown);
    // Asks for fresh relay credentials; false when no stream is open (the next hello asks).
    bool request_relays();
    // The host's network changed: the stream's TCP connection went through an address or a NAT
    // mapping that is gone, and would only be found dead by keepalive seconds later. Drops it and
    // connects again at once, on a new connection to the same replica.
    void reconnect();
    // Sends the path report if a stream is open; false otherwise (the next stream carries it).
    bool report_paths(const PathReport& report);
    // Asks the coordinator to replace this node's WireGuard key; false when no stream is open.
    bool rotate_key(const Key& wireguard_public);

  private:
    struct Outcome {
        bool established = false;
        bool resync = false;
        bool removed = false;  // removed, or the key expired: stop until joined again
        std::string error;
    };
    void run();
    bool take_reconnect();
    void use_replica(std::size_t index);  // a channel of its own to coordinators_[index]
    void log_down(const CoordinatorRotation::Step& step, std::size_t from, const Outcome& outcome);
    Outcome run_stream(std::uint64_t from_version);
    bool handle(const v1::SyncResponse& message, Outcome& outcome);
    bool write(const v1::SyncRequest& request);

    CoordinatorList coordinators_;
    CoordinatorRotation rotation_;                   // the stream thread's
    std::size_t replica_ = 0;                        // of stub_; the stream thread's
    std::shared_ptr<tls::PinObservation> observed_;  // of stub_'s channel
    std::string node_id_;
    Keys keys_;
    Handlers handlers_;
    std::unique_ptr<v1::Coordinator::Stub> stub_;
    std::optional<MapUpdate> partial_full_;  // the chunks of a full map so far (stream thread)
    std::size_t full_chunks_ = 0, full_bytes_ = 0;

    std::mutex mutex_;  // guards the fields below
    std::condition_variable wake_;
    bool stopping_ = false;
    bool reconnect_ = false;
    grpc::ClientContext* context_ = nullptr;
    grpc::ClientReaderWriter<v1::SyncRequest, v1::SyncResponse>* stream_ = nullptr;
    std::mutex write_mutex_;   // one writer at a time on the stream
    bool hello_sent_ = false;  // on stream_; guarded by write_mutex_
    std::thread thread_;
};

}  // namespace mesh::agent
