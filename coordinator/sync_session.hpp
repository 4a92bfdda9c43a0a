#pragma once
// What one node's Sync stream must send next, computed from the store and the hub. Pure with
// respect to transport: the gRPC layer converts the results to protobuf and writes them.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/model.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/store.hpp"

namespace mesh::coord {

struct MapMessage {
    bool full = false;
    std::uint64_t from_version = 0;
    std::uint64_t version = 0;
    std::optional<NodeRecord> self;  // always set in a full map
    std::vector<NodeRecord> peers;   // full: every peer; delta: upserted peers
    std::vector<std::string> removed;
};

struct ReadyPeer {
    std::string node_id;
    bool initiate = false;  // this node starts the handshake (it is the younger of the pair)

    bool operator==(const ReadyPeer&) const = default;
};

class SyncSession {
  public:
    using AppliedLookup = std::function<std::optional<std::uint64_t>(const std::string&)>;

    // client_version: the version the agent says it applied (0 = none).
    SyncSession(std::string node_id, std::uint64_t client_version);

    // The next map message, or nullopt when the node is up to date. Throws
    // StatusError(not_found) when the node itself no longer exists, permission_denied when its
    // key expired. Expired peers are left out (full map) or listed as removed (delta).
    std::optional<MapMessage> next_map(Store& store);

    // Peers that just became ready (both sides applied each other's current keys).
    std::vector<ReadyPeer> newly_ready(const AppliedLookup& applied);

    const std::string& node_id() const { return node_id_; }
    std::uint64_t sent_version() const { return sent_version_; }

  private:
    void seed(Store& store);
    StatusError expired_error() const;
    void track(const NodeRecord& peer);
    void track_self(const NodeRecord& self);

    std::string node_id_;
    std::uint64_t sent_version_;
    bool sent_any_ = false;
    std::uint64_t self_key_version_ = 0;
    std::map<std::string, std::uint64_t> key_versions_;  // every known peer
    std::set<std::string> ready_;                        // announced as ready
};

}  // namespace mesh::coord
