#pragma once
// The gRPC adapter for mesh.v1.Admin, served on the operator's unix socket.
#include "coordinator/hub.hpp"
#include "coordinator/registry.hpp"
#include "mesh/v1/admin.grpc.pb.h"

namespace mesh::coord {

class AdminService final : public v1::Admin::Service {
  public:
    AdminService(Registry& registry, Hub& hub) : registry_(registry), hub_(hub) {}

    grpc::Status CreateToken(grpc::ServerContext*, const v1::CreateTokenRequest* request,
                             v1::CreateTokenResponse* response) override;
    grpc::Status ListTokens(grpc::ServerContext*, const v1::ListTokensRequest*,
                            v1::ListTokensResponse* response) override;
    grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                           v1::ListNodesResponse* response) override;
    grpc::Status RemoveNode(grpc::ServerContext*, const v1::RemoveNodeRequest* request,
                            v1::RemoveNodeResponse* response) override;

  private:
    Registry& registry_;
    Hub& hub_;
};

}  // namespace mesh::coord
