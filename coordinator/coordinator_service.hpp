#pragma once
// The gRPC adapter for mesh.v1.Coordinator, on gRPC's callback API: no thread per stream. Join
// and Leave run on a work queue (their store writes must not hold one of gRPC's threads); each Sync
// stream is a SyncReactor (sync_reactor.hpp) fed by the Fanout. This class holds what the streams
// share: the hello gate (deadline and caps on streams without a hello), the endpoint coalescer
// and the cores every message goes through.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "coordinator/coordinator_metrics.hpp"
#include "coordinator/fanout/fanout.hpp"
#include "coordinator/fanout/rate_limits.hpp"
#include "coordinator/fanout/stream_gate.hpp"
#include "coordinator/log_budget.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/relay_servers.hpp"
#include "coordinator/work_queue.hpp"
#include "mesh/v1/coordinator.grpc.pb.h"

namespace mesh::coord {

class SyncReactor;

struct ServiceLimits {
    StreamGate::Limits gate;
    double messages_per_second = 100;  // what one stream may send us, on average ...
    double message_burst = 400;        // ... and at once
    std::chrono::milliseconds endpoint_interval{1000};  // one endpoint change per node per this
    std::size_t work_queue = 4096;                      // joins and rotations waiting for the store
};

class CoordinatorService final
    : public v1::Coordinator::WithCallbackMethod_Join<v1::Coordinator::WithCallbackMethod_Leave<
          v1::Coordinator::WithRawCallbackMethod_Sync<v1::Coordinator::Service>>> {
  public:
    // fingerprint: this coordinator's certificate fingerprint ("sha256:<hex>"), which every Join
    // and Sync proof must name.
    CoordinatorService(Registry& registry, Fanout& fanout, std::string fingerprint,
                       ServiceLimits limits = {});
    ~CoordinatorService() override;
    // The service's threads: the work queue, the hello gate's timer, the endpoint flusher.
    // Without them (the fuzzers) only the cores below run, on the caller's thread.
    void start();
    // The TURN relays and their secret (serve --turn): answered to RelayCredentialsRequest.
    // Set before start().
    void set_relays(RelayConfig relays) { relays_ = std::move(relays); }
    // Where joins are counted by outcome; set before start(); null: not counted.
    void set_metrics(CoordinatorMetrics* metrics) { metrics_ = metrics; }

    grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* context,
                                   const v1::JoinRequest* request,
                                   v1::JoinResponse* response) override;
    grpc::ServerUnaryReactor* Leave(grpc::CallbackServerContext* context,
                                    const v1::LeaveRequest* request,
                                    v1::LeaveResponse* response) override;
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Sync(
        grpc::CallbackServerContext* context) override;

    // The handlers' cores without gRPC's context and stream (also what the fuzzers drive). Both
    // throw StatusError with the status the client gets.
    // Join: validates, admits (or re-admits) the node and fills the response.
    NodeRecord admit(const v1::JoinRequest& request, v1::JoinResponse* response);
    // Leave: removes the node once its proof verifies (as the operator's nodes remove does);
    // returns its id.
    std::string leave(const v1::LeaveRequest& request);
    // A hello: the node, when its proof over `challenge` verifies and its key is live.
    NodeRecord authenticate(const v1::Hello& hello, const std::string& challenge);
    // One client message on an authenticated Sync stream, after the hello. Endpoint reports are
    // coalesced (flush_endpoints writes them).
    void handle_request(const Fanout::Session& session, const v1::SyncRequest& request);
    // Writes the endpoint reports that are due now (the flusher thread does it by itself).
    void flush_endpoints();

    Registry& registry() { return registry_; }
    Fanout& fanout() { return fanout_; }
    WorkQueue& work() { return work_; }
    const ServiceLimits& limits() const { return limits_; }

  private:
    friend class SyncReactor;
    // The hello gate, shared by every stream; the gate thread ends streams past their deadline.
    std::optional<std::uint64_t> admit_stream(const std::string& source,
                                              std::shared_ptr<StreamSink> sink);
    void hello_done(std::uint64_t ticket);
    void run_gate();
    void report_endpoints(const std::string& node_id, std::vector<Endpoint> endpoints);
    void report_candidates(const std::string& node_id, CandidateReport report);
    void run_flusher();
    void record_paths(const Fanout::Session& session, NodePaths paths);
    void send_relay_credentials(const Fanout::Session& session);

    Registry& registry_;
    Fanout& fanout_;
    const std::string fingerprint_;
    RelayConfig relays_;
    const ServiceLimits limits_;
    CoordinatorMetrics* metrics_ = nullptr;

    std::mutex gate_mutex_;
    std::condition_variable gate_wake_;
    StreamGate gate_;
    // The streams in the gate, by ticket: ended with DEADLINE_EXCEEDED when theirs passes.
    std::unordered_map<std::uint64_t, std::shared_ptr<StreamSink>> waiting_;
    bool stopping_ = false;

    std::mutex endpoints_mutex_;
    std::condition_variable endpoints_wake_;
    EndpointCoalescer endpoints_;

    std::mutex warnings_mutex_;
    LogBudget warnings_{10, 6};  // per node: a peer without a direct path

    WorkQueue work_;
    std::thread gate_thread_;
    std::thread flusher_thread_;
};

}  // namespace mesh::coord
