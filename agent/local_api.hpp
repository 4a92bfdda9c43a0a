#pragma once
// mesh.v1.Agent on the agent's unix socket (0600, peers checked): how meshctl talks to the daemon.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "agent/agent.hpp"
#include "local_socket.hpp"
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
    grpc::Status Ping(grpc::ServerContext*, const v1::PingRequest* request,
                      v1::PingResponse* response) override;
    grpc::Status SetDown(grpc::ServerContext*, const v1::SetDownRequest* request,
                         v1::SetDownResponse* response) override;
    grpc::Status Netcheck(grpc::ServerContext*, const v1::NetcheckRequest*,
                          v1::NetcheckResponse* response) override;
    grpc::Status Logout(grpc::ServerContext*, const v1::LogoutRequest* request,
                        v1::LogoutResponse* response) override;

  private:
    Agent& agent_;
};

// The local API served on socket_path (replacing a stale socket file; 0600, and only this user
// and root get through: local_socket.hpp) until destroyed, which removes the socket.
class LocalApiServer {
  public:
    LocalApiServer(LocalApi& api, const std::string& socket_path);
    ~LocalApiServer();
    LocalApiServer(const LocalApiServer&) = delete;
    LocalApiServer& operator=(const LocalApiServer&) = delete;

  private:
    std::unique_ptr<grpc::Server> server_;
    std::unique_ptr<local::LocalSocketServer> listener_;
};

}  // namespace mesh::agent
