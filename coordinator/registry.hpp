#pragma once
// The coordinator's core: joins, endpoint reports, removals, tokens. No gRPC, no sockets: the
// store and the clock come in as parameters, and every change ends in on_change(new version)
// after it committed, which the fan-out hub turns into deltas.
#include <functional>
#include <optional>
#include <string>
#include <vector>

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

class Registry {
  public:
    using Clock = std::function<std::int64_t()>;  // unix seconds
    using OnChange = std::function<void(std::uint64_t version)>;

    Registry(Store& store, NetworkConfig network, Clock clock, OnChange on_change);

    NewToken create_token(const TokenParams& params);
    // Throws not_found. Nodes that joined with it stay.
    void revoke_token(const std::string& token_id);
    // Throws StatusError with the status the caller should see; nothing is stored on failure.
    NodeRecord join(const JoinParams& params);
    // Returns false (and stores nothing) when the list is unchanged. Throws not_found, and
    // permission_denied for an expired node.
    bool update_endpoints(const std::string& node_id, const std::vector<Endpoint>& endpoints);
    // Accepts a node id or a hostname; returns the removed node's id. Throws not_found.
    std::string remove_node(const std::string& id_or_hostname);
    // Marks the node's key expired now: out of every map until it joins again. Throws not_found.
    std::string expire_node(const std::string& id_or_hostname);
    // A new WireGuard key for the node, in place; resets its expiry. Throws invalid_argument (zero
    // or unchanged key), permission_denied (another node holds it), not_found.
    NodeRecord rotate_key(const std::string& node_id, const Key& wireguard_key);
    // Brings every live node's key expiry in line with the network's node_key_ttl, as it is at
    // this start: a TTL turned on or shortened gives the nodes whose expiry is later (or never)
    // now + TTL; a TTL turned off clears their expiry. Each change is a map change (peers see the
    // new key_expires_at). Returns the ids of the nodes changed.
    std::vector<std::string> settle_key_expiry();
    // Records that the node's Sync stream opened or closed now (no map change).
    void touch(const std::string& node_id);
    // Expires lapsed keys and removes ephemeral nodes offline for longer than the network's
    // ephemeral_inactivity. `connected` says which nodes have a Sync stream; a node offline since
    // before `serving_since` counts from then (the coordinator itself was down).
    ReapResult reap(const std::function<bool(const std::string&)>& connected,
                    std::int64_t serving_since);

    // The operator credential for the TLS admin port: a new one replaces the old.
    std::string create_operator_credential();
    // Throws StatusError: unauthenticated (missing, malformed, wrong), permission_denied (a join
    // token in its place).
    void check_operator(const std::string& presented);

    const NetworkConfig& network() const { return network_; }
    Store& store() { return store_; }
    std::int64_t now() const { return clock_(); }

  private:
    NodeRecord create_node(const JoinParams& params, const std::string& hostname,
                           std::uint64_t version);
    std::optional<NodeRecord> find_node(const std::string& id_or_hostname);
    std::optional<NodeRecord> live_node(const std::string& node_id);
    std::int64_t key_expiry() const;

    Store& store_;
    NetworkConfig network_;
    Clock clock_;
    OnChange on_change_;
};

// The interface addresses of a node, with the overlay prefix lengths: IPv4 first.
std::vector<IpPrefix> interface_addresses(const NodeRecord& node, const NetworkConfig& network);

}  // namespace mesh::coord
