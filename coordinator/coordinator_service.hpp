#pragma once
// The gRPC adapter for mesh.v1.Coordinator: converts, validates at the boundary, and delegates
// to the Registry (joins, endpoints) and the Hub + SyncSession (the map stream, path reports).
#include "coordinator/hub.hpp"
#include "coordinator/log_budget.hpp"
#include "coordinator/registry.hpp"
#include "mesh/v1/coordinator.grpc.pb.h"

namespace mesh::coord {

class CoordinatorService final : public v1::Coordinator::Service {
  public:
    // fingerprint: this coordinator's certificate fingerprint ("sha256:<hex>"), which every Join
    // and Sync proof must name.
    CoordinatorService(Registry& registry, Hub& hub, std::string fingerprint)
        : registry_(registry), hub_(hub), fingerprint_(std::move(fingerprint)) {}

    grpc::Status Join(grpc::ServerContext* context, const v1::JoinRequest* request,
                      v1::JoinResponse* response) override;
    grpc::Status Sync(grpc::ServerContext* context,
                      grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* stream) override;

    // The handlers' cores without gRPC's stream and context (also what the fuzzers drive). Both
    // throw StatusError with the status the client gets.
    // Join: validates, admits (or re-admits) the node and fills the response.
    NodeRecord admit(const v1::JoinRequest& request, v1::JoinResponse* response);
    // One client message on an authenticated Sync stream, after the hello.
    void handle_request(const Hub::Session& session, const v1::SyncRequest& request);

  private:
    NodeRecord authenticate(const v1::Hello& hello, const std::string& challenge);
    void stream_map(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* stream,
                    const std::shared_ptr<Hub::Session>& session, std::uint64_t client_version,
                    const std::atomic<bool>& reader_done);
    // Reads the client's messages after the hello until the stream ends; a malformed one ends
    // it with the returned status.
    grpc::Status read_requests(grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* stream,
                               const Hub::Session& session);
    void record_paths(const Hub::Session& session, NodePaths paths);

    Registry& registry_;
    Hub& hub_;
    const std::string fingerprint_;
    // Per-node warnings (a peer without a direct path): 10 at once, then one per 6 s.
    std::mutex warnings_mutex_;
    LogBudget warnings_{10, 6};
};

}  // namespace mesh::coord
