#pragma once
// The Sync stream's messages (mesh.v1.SyncResponse) built from the map in memory without
// re-encoding a node: a full map is headers around cached blocks of encoded peers, in chunks of
// at most max_message_bytes (NetMap.continued); a delta is the changed nodes' cached Peer bytes;
// the delta every up-to-date stream needs after a change is built once and shared. Not
// thread-safe: the fan-out serializes its use.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/fanout/mesh_map.hpp"
#include "coordinator/fanout/wire.hpp"

namespace mesh::coord {

// A delta from one version to the map's, for every stream whose own node did not change.
struct SharedDelta {
    std::uint64_t from = 0;
    std::uint64_t to = 0;
    std::set<std::string> touched;  // ids changed or removed: those nodes' own streams differ
    WireMessage message;
};

class MapMessages {
  public:
    // network_bytes: the serialized mesh.v1.NetworkSettings every full map carries.
    MapMessages(std::string network_bytes, std::size_t max_message_bytes);

    // The full map for `self`'s stream at the map's version: every other live node, by node id,
    // in one or more chunks (each a SyncResponse.full; all but the last with continued set).
    std::vector<WireMessage> full(const MeshMap& map, const MapNode& self);
    // The delta from `from` to the map's version for `recipient`'s stream (its own record as
    // self, expired peers as removed); nullopt when `from` is not a version to diff from, or the
    // delta would be larger than a full map should (the caller sends a full map instead).
    std::optional<WireMessage> delta(const MeshMap& map, std::uint64_t from,
                                     const std::string& recipient) const;
    // The same for every stream whose node is not in `touched`; nullopt as above.
    std::optional<SharedDelta> shared_delta(const MeshMap& map, std::uint64_t from) const;

    // The in-band removal of the recipient's own node (delta: removed = [node_id]).
    static WireMessage removed_self(std::uint64_t from, std::uint64_t version,
                                    const std::string& node_id);
    // PeersReady messages for these ids, each at most max_message_bytes.
    std::vector<WireMessage> ready(const std::vector<std::string>& initiate,
                                   const std::vector<std::string>& respond) const;
    static WireMessage challenge(const std::string& nonce);

    std::size_t max_message_bytes() const { return max_message_bytes_; }

  private:
    // Encoded peers (NetMap.peers / NetMapDelta.upserted entries: tag, length, Peer bytes) of
    // the live nodes, grouped by the first characters of their id, each group one buffer made
    // again only when one of its nodes changed.
    struct Block {
        std::shared_ptr<const std::string> bytes;
        std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> entries;
    };
    void sync_blocks(const MeshMap& map);
    void rebuild(const MeshMap& map, const std::string& key);
    std::optional<WireMessage> delta_body(const MeshMap& map, std::uint64_t from,
                                          const std::string& recipient,
                                          std::set<std::string>* touched) const;

    std::string network_bytes_;
    std::size_t max_message_bytes_;
    std::map<std::string, Block> blocks_;
    std::uint64_t blocks_version_ = 0;
    bool blocks_loaded_ = false;
};

// The key of a node's block: the first four characters of its id ("n-" and two hex digits).
std::string block_key(const std::string& node_id);

}  // namespace mesh::coord
