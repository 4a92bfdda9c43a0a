#pragma once
// The gRPC adapter for mesh.v1.Admin: on the operator's unix socket (local), and on the TLS
// admin port (remote), where every call must carry the operator credential first.
#include "coordinator/fanout/fanout.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/replication.hpp"
#include "mesh/v1/admin.grpc.pb.h"

namespace mesh::coord {

class AdminService final : public v1::Admin::Service {
  public:
    enum class Access { local, remote };
    AdminService(Registry& registry, Fanout& hub, Access access, std::string fingerprint)
        : registry_(registry), hub_(hub), access_(access), fingerprint_(std::move(fingerprint)) {}

    // Replicas on etcd: nodes streaming to the other replicas show as connected, with their paths.
    void set_replication(const Replication* replication) { replication_ = replication; }

    grpc::Status CreateToken(grpc::ServerContext*, const v1::CreateTokenRequest* request,
                             v1::CreateTokenResponse* response) override;
    grpc::Status ListTokens(grpc::ServerContext*, const v1::ListTokensRequest*,
                            v1::ListTokensResponse* response) override;
    grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                           v1::ListNodesResponse* response) override;
    grpc::Status RemoveNode(grpc::ServerContext*, const v1::RemoveNodeRequest* request,
                            v1::RemoveNodeResponse* response) override;
    grpc::Status RevokeToken(grpc::ServerContext*, const v1::RevokeTokenRequest* request,
                             v1::RevokeTokenResponse* response) override;
    grpc::Status ExpireNode(grpc::ServerContext*, const v1::ExpireNodeRequest* request,
                            v1::ExpireNodeResponse* response) override;
    grpc::Status CreateOperatorCredential(grpc::ServerContext*,
                                          const v1::CreateOperatorCredentialRequest*,
                                          v1::CreateOperatorCredentialResponse* response) override;

  private:
    // Runs a handler body after the access check, mapping our errors to statuses so no
    // exception escapes into gRPC.
    template <class Fn>
    grpc::Status guarded(grpc::ServerContext* context, Fn&& fn);
    void authorize(grpc::ServerContext* context);

    Registry& registry_;
    Fanout& hub_;
    const Replication* replication_ = nullptr;
    Access access_;
    std::string fingerprint_;
};

}  // namespace mesh::coord
