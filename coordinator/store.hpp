#pragma once
// One storage interface for the coordinator: SQLite, the embedded default, or etcd, shared by
// several replicas (coordinator/etcd_store.hpp). Every method is atomic on its own;
// `transaction` groups several into one atomic unit (used to consume a token and create a node
// together). The coordinator reads nodes and tombstones once, at start, into its map in memory
// (coordinator/fanout/mesh_map.hpp); after that it only writes them, and reads tokens and meta.
// A shared store's other writers reach the map through its watch (coordinator/replication.hpp).
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "coordinator/model.hpp"

namespace mesh::coord {

// Everything the map is built from, read at one point in time.
struct StoreSnapshot {
    std::vector<NodeRecord> nodes;
    std::vector<Removal> removals;
    std::vector<ContainerHold> holds;
    std::uint64_t version = 0;
    std::int64_t revision = 0;  // a shared store's revision of this snapshot (0: not shared)
};

// A shared store's transaction lost to another writer: something it read changed before it
// committed (nothing was written). `version` is the store's map version then; the registry
// waits until its map has caught up with it and tries again.
class StoreConflict : public std::runtime_error {
  public:
    explicit StoreConflict(std::uint64_t version)
        : std::runtime_error("the store changed under this transaction"), version_(version) {}
    std::uint64_t version() const { return version_; }

  private:
    std::uint64_t version_;
};

class Store {
  public:
    virtual ~Store() = default;

    // Runs fn with the store locked and inside one transaction: all of fn's writes commit
    // together, or none do if fn throws.
    // A shared store throws StoreConflict when another writer changed what fn read.
    virtual void transaction(const std::function<void()>& fn) = 0;
    // Whether other coordinators write to this store too (their changes arrive by watch).
    virtual bool shared() const { return false; }
    virtual StoreSnapshot load() = 0;

    virtual std::optional<std::string> meta(const std::string& key) = 0;
    virtual void set_meta(const std::string& key, const std::string& value) = 0;

    virtual std::uint64_t version() = 0;
    // One read that says whether the store answers, for the health probe: it must not hold what a
    // transaction holds (a probe waiting out an unreachable etcd would make every join wait
    // behind it, past the agent's deadline).
    virtual void ping() { version(); }
    virtual std::uint64_t bump_version() = 0;  // returns the new version

    virtual void put_token(const TokenRecord& token) = 0;
    virtual std::optional<TokenRecord> token(const std::string& id) = 0;
    virtual std::vector<TokenRecord> tokens() = 0;

    virtual void put_node(const NodeRecord& node) = 0;  // insert or replace by id
    virtual std::optional<NodeRecord> node(const std::string& id) = 0;
    virtual std::optional<NodeRecord> node_by_machine_key(const Key& key) = 0;
    virtual std::optional<NodeRecord> node_by_wireguard_key(const Key& key) = 0;
    virtual std::optional<NodeRecord> node_by_hostname(const std::string& hostname) = 0;
    virtual std::vector<NodeRecord> nodes() = 0;
    // Sets last_seen only: bookkeeping, not a map change (no version, no delta).
    virtual void touch_node(const std::string& id, std::int64_t last_seen) = 0;
    // Deletes the node and remembers its removal at `version` so deltas can carry it.
    virtual void remove_node(const std::string& id, std::uint64_t version) = 0;
    // Every tombstone remove_node left: the removed ids with their versions.
    virtual std::vector<Removal> removals() = 0;

    // Container subnets held for removed hosts (insert or replace by prefix).
    virtual void put_container_hold(const ContainerHold& hold) = 0;
    virtual void remove_container_hold(const IpPrefix& prefix) = 0;
    virtual std::vector<ContainerHold> container_holds() = 0;
};

}  // namespace mesh::coord
