#pragma once
// The coordinator's core: joins, endpoint reports, removals, expiry, tokens. No gRPC, no sockets:
// the store and the clock come in as parameters. It keeps the map in memory (MeshMap), loaded
// from the store at construction, and answers every lookup from it; the store is the durable
// log every change is committed to first. After a change committed, the map has it, and
// on_change(new version) tells the fan-out.
//
// Thread safety: every method may be called from any thread. Changes are serialized (one at a
// time, each one store transaction); readers of the map (with_map) run beside each other and
// beside a change being prepared, and wait only while one is applied to the map.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/container_subnets.hpp"
#include "coordinator/fanout/mesh_map.hpp"
#include "coordinator/model.hpp"
#include "coordinator/store.hpp"
#include "coordinator/token.hpp"

namespace mesh::coord {

struct JoinParams {
    std::string token;
    Key wireguard_key;
    Key machine_key;
    std::string hostname;
    std::vector<Endpoint> endpoints;
    std::vector<std::string> requested_tags;  // ignored on purpose: tags come from the token
    // Ed25519 by the machine key over v1::join_proof_message(coordinator_fingerprint, token,
    // wireguard key bytes).
    std::string machine_signature;
    // This coordinator's own certificate fingerprint (never the client's word for it): the
    // signature must name it.
    std::string coordinator_fingerprint;
    ContainerRequest container;  // JoinRequest.container_subnet, parsed
};

struct TokenParams {
    std::int64_t ttl_seconds = 0;  // 0 = 24 hours
    bool reusable = false;
    std::uint32_t max_uses = 0;  // reusable only; 0 = unlimited
    std::vector<std::string> tags;
    bool ephemeral = false;
};

// What one pass of the reaper did.
struct ReapResult {
    std::vector<std::string> expired;  // node ids whose key lapsed
    std::vector<std::string> removed;  // ephemeral node ids removed for inactivity
};

// One node's endpoint report, for update_endpoints_batch.
struct EndpointUpdate {
    std::string node_id;
    CandidateReport report;
};

// Changes another replica committed to a shared store, as its watch delivered them (one etcd
// revision or more, in order).
struct RemoteChanges {
    std::vector<NodeRecord> upserts;
    std::vector<Removal> removals;
    std::vector<ContainerHold> holds_put;
    std::vector<IpPrefix> holds_removed;
    std::vector<std::pair<std::string, std::int64_t>> seen;  // last_seen
    std::optional<std::uint64_t> version;                    // the store's version key
    bool empty() const {
        return upserts.empty() && removals.empty() && holds_put.empty() && holds_removed.empty() &&
               seen.empty() && !version;
    }
};

class Registry {
  public:
    using Clock = std::function<std::int64_t()>;  // unix seconds
    using OnChange = std::function<void(std::uint64_t version)>;

    // Loads the map from the store. encode_peer makes a node's Peer bytes for the fan-out
    // (empty: none are made, for users that never stream maps).
    Registry(Store& store, NetworkConfig network, Clock clock, OnChange on_change,
             MeshMap::PeerEncoder encode_peer = {});

    NewToken create_token(const TokenParams& params);
    // Throws not_found. Nodes that joined with it stay.
    void revoke_token(const std::string& token_id);
    // Throws StatusError with the status the caller should see; nothing is stored on failure.
    NodeRecord join(const JoinParams& params);
    // Returns false (and stores nothing) when the list is unchanged. Throws not_found, and
    // permission_denied for an expired node.
    bool update_endpoints(const std::string& node_id, const std::vector<Endpoint>& endpoints);
    // Several nodes' reports in one store transaction, each its own map version. Reports for
    // nodes that are gone or expired, and unchanged lists, are skipped. Returns the ids changed.
    std::vector<std::string> update_endpoints_batch(const std::vector<EndpointUpdate>& updates);
    // Accepts a node id or a hostname; returns the removed node's id. Throws not_found.
    std::string remove_node(const std::string& id_or_hostname);
    // A node leaving by itself (Coordinator.Leave): found by id only, never by hostname, and
    // removed as remove_node does once `signature` verifies with its machine key over
    // leave_proof_message(coordinator_fingerprint, node_id) (checked under the write lock: the
    // node checked is the node removed). Throws not_found, and unauthenticated for the proof.
    std::string leave(const std::string& node_id, const std::string& signature,
                      const std::string& coordinator_fingerprint);
    // Marks the node's key expired now: out of every map until it joins again. Throws not_found.
    std::string expire_node(const std::string& id_or_hostname);
    // A new WireGuard key for the node, in place; resets its expiry. Throws invalid_argument (zero
    // or unchanged key), permission_denied (another node holds it), not_found.
    NodeRecord rotate_key(const std::string& node_id, const Key& wireguard_key);
    // Records that the node's Sync stream opened or closed now: last_seen, in memory at once and
    // in the store at the next flush_last_seen (no map change, no version).
    void touch(const std::string& node_id);
    void flush_last_seen();
    // Expires lapsed keys and removes ephemeral nodes offline for longer than the network's
    // ephemeral_inactivity. `connected` says which nodes have a Sync stream; a node offline since
    // before `serving_since` counts from then (the coordinator itself was down).
    ReapResult reap(const std::function<bool(const std::string&)>& connected,
                    std::int64_t serving_since);
    // Brings every live node's key expiry in line with the network's node_key_ttl, as it is at
    // this start: a TTL turned on or shortened gives the nodes whose expiry is later (or never)
    // now + TTL; a TTL turned off clears their expiry. Each change is a map change (peers see the
    // new key_expires_at). Returns the ids of the nodes changed.
    std::vector<std::string> settle_key_expiry();

    // A shared store's changes made elsewhere (and this replica's own, coming back): applied to
    // the map unless it already has them or something newer; the fan-out is told as for a local
    // change. Idempotent.
    void apply_remote(const RemoteChanges& changes);
    // The revision of the store snapshot the map was loaded from (0: not a shared store): the
    // watch starts right after it.
    std::int64_t loaded_revision() const { return loaded_revision_; }
    // Waits until the map's version is at least `version`; false on timeout.
    bool wait_for_version(std::uint64_t version, std::chrono::milliseconds timeout);

    // The operator credential for the TLS admin port: a new one replaces the old.
    std::string create_operator_credential();
    // Throws StatusError: unauthenticated (missing, malformed, wrong), permission_denied (a join
    // token in its place).
    void check_operator(const std::string& presented);

    // Runs f(map) with the map held still (shared with other readers); f must not call back
    // into the registry's changing methods.
    template <class F>
    auto with_map(F&& f) const {
        std::shared_lock lock(map_mutex_);
        return f(static_cast<const MeshMap&>(map_));
    }
    // Throws what a node acting on its own record gets when it cannot: not_found (gone),
    // permission_denied (its key lapsed).
    void check_live(const std::string& node_id) const;
    // The node's record with its freshest last_seen; nullopt when there is no such node.
    std::optional<NodeRecord> node(const std::string& id) const;
    std::uint64_t version() const;
    std::int64_t last_seen(const NodeRecord& node) const;  // record or a touch not yet flushed

    const NetworkConfig& network() const { return network_; }
    Store& store() { return store_; }
    std::int64_t now() const { return clock_(); }

  private:
    // The public changing methods are these, tried again on a StoreConflict.
    template <class F>
    auto retrying(F&& attempt) -> decltype(attempt());
    void revoke_token_once(const std::string& token_id);
    NodeRecord join_once(const JoinParams& params);
    bool update_endpoints_once(const std::string& node_id, const std::vector<Endpoint>& endpoints);
    std::vector<std::string> update_endpoints_batch_once(
        const std::vector<EndpointUpdate>& updates);
    std::string remove_node_once(const std::string& id_or_hostname);
    std::string leave_once(const std::string& node_id, const std::string& signature,
                           const std::string& coordinator_fingerprint);
    // Removes the node (found under write_mutex_, which the caller holds); returns its id.
    std::string remove_locked(const NodeRecord& node);
    std::string expire_node_once(const std::string& id_or_hostname);
    NodeRecord rotate_key_once(const std::string& node_id, const Key& wireguard_key);
    ReapResult reap_once(const std::function<bool(const std::string&)>& connected,
                         std::int64_t serving_since);
    std::vector<std::string> settle_key_expiry_once();

    NodeRecord create_node(const JoinParams& params, const std::string& hostname,
                           std::uint64_t version);
    const MapNode* find_node(const std::string& id_or_hostname) const;
    // The container subnets `node` holds after a join asking for `request`; throws StatusError
    // (invalid_argument: an overlap, naming the holder; failed_precondition: "auto" without a
    // pool; resource_exhausted: the pool is full). The caller holds write_mutex_.
    std::vector<IpPrefix> container_subnets_for(const NodeRecord& node,
                                                const ContainerRequest& request) const;
    // The hold on `prefix`'s family for this machine, if one is left from its removal.
    std::optional<IpPrefix> held_for(const Key& machine_key, IpAddress::Family family) const;
    // Drops holds whose grace period ended (store and memory). The caller holds write_mutex_.
    void release_expired_holds_locked();
    NodeRecord live_node(const std::string& node_id) const;
    std::int64_t key_expiry() const;
    // Runs `write` in one store transaction; once it committed, `apply` brings the map along
    // (under its lock) and the new version is announced. The caller holds write_mutex_.
    void commit(const std::function<void()>& write, const std::function<void(MeshMap&)>& apply);

    Store& store_;
    NetworkConfig network_;
    Clock clock_;
    OnChange on_change_;
    std::mutex write_mutex_;               // one change at a time
    mutable std::shared_mutex map_mutex_;  // readers of map_ vs. applying a change
    MeshMap map_;
    mutable std::mutex touched_mutex_;
    std::unordered_map<std::string, std::int64_t> touched_;  // last_seen not yet in the store
    // Container subnets held for removed hosts (network_.container_grace), under write_mutex_.
    std::map<IpPrefix, ContainerHold> holds_;
    SubnetIndex held_;  // the same prefixes, owner = the removed node's hostname
    std::int64_t loaded_revision_ = 0;
    std::mutex caught_up_mutex_;
    std::condition_variable caught_up_;  // the map's version moved (apply_remote)
};

// The interface addresses of a node, with the overlay prefix lengths: IPv4 first.
std::vector<IpPrefix> interface_addresses(const NodeRecord& node, const NetworkConfig& network);

}  // namespace mesh::coord
