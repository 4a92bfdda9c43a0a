#pragma once
// mesh.v1.Agent on the agent's unix socket (0600): how meshctl talks to the daemon.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "agent/agent.hpp"
#include "mesh/v1/agent.grpc.pb.h"

namespace mesh::agent {

class LocalApi final : public v1::Agent::Service {
  public:
    explicit LocalApi(Agent& agent) : agent_(agent) {}
    grpc::Status Join(grpc::ServerContext*, const v1::LocalJoinRequest* request,
                      v1::LocalJoinResponse* response) override;
    grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                        v1::StatusResponse* response) override;
    grpc::Status RotateKey(grpc::ServerContext*, const v1::RotateKeyRequest*,
                           v1::RotateKeyResponse* response) override;

  private:
    Agent& agent_;
};

// Starts the server on socket_path (replacing a stale socket file, mode 0600).
std::unique_ptr<grpc::Server> serve_local_api(LocalApi& api, const std::string& socket_path);

}  // namespace mesh::agent
