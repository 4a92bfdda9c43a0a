#pragma once
// The network map in memory: every node as committed to the store, indexed for what the
// coordinator asks of it on every join, report and stream (by id, keys, hostname, address, and
// by the versions at which nodes and keys changed), plus each node's encoded Peer record, made
// once per change and shared by every stream that sends it. The store stays the durable log;
// nothing on the fan-out path reads it. Not thread-safe: its owner serializes access.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/container_subnets.hpp"
#include "coordinator/model.hpp"

namespace mesh::coord {

struct MapNode {
    NodeRecord record;
    // The node as its peers see it (a serialized mesh.v1.Peer), shared with the messages that
    // carry it.
    std::shared_ptr<const std::string> peer_bytes;
};

class MeshMap {
  public:
    using PeerEncoder = std::function<std::string(const NodeRecord&)>;

    // ipv4_prefix: the overlay's, for address allocation. encode: NodeRecord -> Peer bytes.
    MeshMap(IpPrefix ipv4_prefix, PeerEncoder encode);

    // The committed state at start: every node, every tombstone, the store's version.
    void load(const std::vector<NodeRecord>& nodes, const std::vector<Removal>& removed,
              std::uint64_t version);

    // One committed change; its version is the node's (upsert) or the given one (remove), and
    // becomes the map's version when higher.
    void upsert(const NodeRecord& node);
    void remove(const std::string& id, std::uint64_t version);
    // A version another replica moved the store to without a record of its own here (the map
    // only counts up).
    void advance_version(std::uint64_t version) { version_ = std::max(version_, version); }
    // The version of the newest key change (join or rotation) the map holds; 0: none.
    std::uint64_t newest_key_version() const {
        return by_key_version_.empty() ? 0 : by_key_version_.rbegin()->first;
    }
    // The version of `id`'s tombstone, if the map kept one.
    std::optional<std::uint64_t> removed_at(const std::string& id) const;
    // Bookkeeping that is no map change (no version, peers never see it).
    void set_last_seen(const std::string& id, std::int64_t last_seen);

    std::uint64_t version() const { return version_; }
    std::size_t size() const { return nodes_.size(); }
    const std::map<std::string, MapNode>& nodes() const { return nodes_; }  // by node id

    const MapNode* find(const std::string& id) const;
    const MapNode* by_machine_key(const Key& key) const;
    const MapNode* by_wireguard_key(const Key& key) const;
    const MapNode* by_hostname(const std::string& hostname) const;

    // The lowest free host address of the overlay's IPv4 prefix (skipping the network and
    // broadcast addresses), in O(log N); nullopt when the prefix is full.
    std::optional<IpAddress> free_ipv4() const;
    // Every node's container subnets, by prefix (owner: the node id).
    const SubnetIndex& container_subnets() const { return container_subnets_; }
    // `base`, or base-2, base-3, ... : the first not held by a node other than `except_id`.
    // O(log N) amortized: the next suffix to try is remembered per base.
    std::string unique_hostname(const std::string& base, const std::string& except_id = "") const;

    // What changed after `since`: nodes whose record changed (their current record) and ids
    // removed, both in version order. `complete` (and every node in `changed`) when since is 0
    // or not a version this map can diff from (in the future, or before the oldest tombstone it
    // kept).
    struct Changes {
        bool complete = false;
        std::vector<const MapNode*> changed;
        std::vector<std::string> removed;
    };
    Changes since(std::uint64_t since) const;
    // How many records changed after `since` (what since() would return), without building it.
    std::size_t changed_count_since(std::uint64_t since) const;

    // Calls f(node) for each node whose current WireGuard key was set at a version in (after,
    // up_to], in version order: the keys a node learns by applying up to `up_to`.
    void for_keys_set_in(std::uint64_t after, std::uint64_t up_to,
                         const std::function<void(const MapNode&)>& f) const;

  private:
    void index(const MapNode& node);
    void unindex(const NodeRecord& node);
    void take_address(const IpAddress& a);
    void free_address(const IpAddress& a);

    IpPrefix ipv4_prefix_;
    PeerEncoder encode_;
    std::uint64_t version_ = 0;
    std::map<std::string, MapNode> nodes_;
    std::unordered_map<std::string, std::string> by_hostname_;  // hostname -> id
    std::map<Key, std::string> by_machine_key_;                 // -> id
    std::map<Key, std::string> by_wireguard_key_;               // -> id
    // By the version at which a node's record, and its key, last changed. They point into nodes_
    // (whose elements never move): the fan-out walks them on every ack, so no lookup by id.
    std::map<std::uint64_t, const MapNode*> by_version_;
    std::map<std::uint64_t, const MapNode*> by_key_version_;
    std::map<std::uint64_t, std::string> removed_;                // tombstones, by version
    std::unordered_map<std::string, std::uint64_t> removed_ids_;  // id -> its tombstone version
    // Addresses: every one below high_water_ is taken except those in holes_.
    std::uint64_t high_water_ = 1;  // offset in the prefix of the first never-used address
    std::set<std::uint64_t> holes_;
    SubnetIndex container_subnets_;
    mutable std::unordered_map<std::string, unsigned> next_suffix_;  // hostname base -> hint
};

}  // namespace mesh::coord
