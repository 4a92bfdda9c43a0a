#pragma once
// The fan-out point between the registry and the open Sync streams. It knows which nodes are
// connected and which map version each node has applied, and wakes every stream whenever the
// map or an applied version changes; each stream then computes what its node needs. It also
// holds each connected node's last path report (memory only: dropped when its stream ends).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "coordinator/model.hpp"

namespace mesh::coord {

class Hub {
  public:
    struct Session {
        std::string node_id;
        bool replaced = false;  // a newer stream of the same node took over
    };

    // Registers a stream; an older stream of the same node is marked replaced.
    std::shared_ptr<Session> attach(const std::string& node_id);
    void detach(const std::shared_ptr<Session>& session);

    void publish();  // the map changed
    void set_applied(const std::string& node_id, std::uint64_t version);
    std::optional<std::uint64_t> applied(const std::string& node_id) const;
    bool connected(const std::string& node_id) const;
    void forget(const std::string& node_id);  // a removed node

    // Stores the node's path report while `session` is its current stream (a replaced stream's
    // late report is dropped: returns false). `previous` receives what it replaced.
    bool set_paths(const Session& session, NodePaths paths, std::optional<NodePaths>& previous);
    std::optional<NodePaths> paths(const std::string& node_id) const;
    void shutdown();
    bool is_shutdown() const;

    // Blocks until the epoch moves past `seen` (anything changed), the session is replaced, the
    // hub shuts down, or the timeout passes. Returns the current epoch.
    std::uint64_t wait(const Session& session, std::uint64_t seen,
                       std::chrono::milliseconds timeout);
    std::uint64_t epoch() const;

  private:
    void bump_locked();

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::uint64_t epoch_ = 0;
    bool shutdown_ = false;
    std::map<std::string, std::shared_ptr<Session>> sessions_;
    std::map<std::string, std::uint64_t> applied_;
    std::map<std::string, NodePaths> paths_;  // connected nodes only
};

}  // namespace mesh::coord
