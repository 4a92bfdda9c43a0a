#pragma once
// The operator's and meshctl's unix sockets (the coordinator's admin.sock, the agent's
// agent.sock): a gRPC server with no port of its own, fed the connections this class accepts.
// The socket is never connectable with a wider mode than 0600 (it is bound in a private
// directory, chmod'ed, then renamed into place), and each connection's peer is checked with
// SO_PEERCRED: only this process's user and root get through, whatever the file's mode says
// (security review, finding 10).
#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

#include "kmod-bridge/unix_socket.hpp"

namespace grpc {
class Channel;
class Server;
}  // namespace grpc

namespace mesh::local {

class LocalSocketServer {
  public:
    // Binds `path` and starts accepting for `server` (built and started without listening
    // ports; it must outlive this object). Throws mesh::Error naming the path.
    LocalSocketServer(grpc::Server& server, std::string path);
    ~LocalSocketServer();  // stops accepting and removes the path
    LocalSocketServer(const LocalSocketServer&) = delete;
    LocalSocketServer& operator=(const LocalSocketServer&) = delete;

    const std::string& path() const { return path_; }

  private:
    void run();
    void accept_one();

    grpc::Server& server_;
    std::string path_;
    kb::UniqueFd listen_;
    kb::UniqueFd stop_;
    std::thread thread_;
};

// A client channel to a local socket. Replies have no size limit: the far end is this host's own
// agent or coordinator, and a fleet's status or node list outgrows gRPC's 4 MiB default (6,500
// peers with 16 endpoints each do).
std::shared_ptr<grpc::Channel> local_channel(const std::string& path);

// Whether a peer with this uid may use a local socket of a process running as `own_uid`: the
// same user, or root.
inline bool local_peer_allowed(uid_t peer_uid, uid_t own_uid) {
    return peer_uid == own_uid || peer_uid == 0;
}

}  // namespace mesh::local
