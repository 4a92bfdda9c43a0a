#include "coordinator/registry.hpp"

#include <sodium.h>

#include <algorithm>

#include "coordinator/hostname.hpp"
#include "coordinator/ipam.hpp"
#include "coordinator/machine_proof.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/tags.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "sync_proof.hpp"

namespace mesh::coord {

namespace {

// At most this many records per commit to a shared store: etcd refuses a Txn of more than 128
// operations (--max-txn-ops). A changed node is one put beside the version's compare and put; a
// removal is three (the node and its last_seen deleted, the tombstone put).
constexpr std::size_t kSharedBatch = 50;
constexpr std::size_t kSharedRemovals = 35;
constexpr std::size_t kSharedTouches = 100;

std::string new_node_id() {
    unsigned char raw[8];
    randombytes_buf(raw, sizeof raw);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    return std::string("n-") + hex;
}

}  // namespace

Registry::Registry(Store& store, NetworkConfig network, Clock clock, OnChange on_change,
                   MeshMap::PeerEncoder encode_peer)
    : store_(store),
      network_(std::move(network)),
      clock_(std::move(clock)),
      on_change_(std::move(on_change)),
      map_(
          network_.ipv4_prefix,
          encode_peer ? std::move(encode_peer) : [](const NodeRecord&) { return std::string(); }) {
    auto snapshot = store_.load();
    loaded_revision_ = snapshot.revision;
    map_.load(snapshot.nodes, snapshot.removals, snapshot.version);
    for (auto& hold : snapshot.holds) {
        if (held_.overlapping(hold.prefix)) continue;  // never written so; ignore, not trust
        held_.add(hold.prefix, hold.hostname);
        holds_.emplace(hold.prefix, std::move(hold));
    }
}

std::optional<IpPrefix> Registry::held_for(const Key& machine_key, IpAddress::Family family) const {
    const std::int64_t now = clock_();
    for (const auto& [prefix, hold] : holds_) {
        if (hold.machine_key == machine_key && prefix.address.family == family &&
            hold.until > now) {
            return prefix;
        }
    }
    return std::nullopt;
}

void Registry::release_expired_holds_locked() {
    const std::int64_t now = clock_();
    std::vector<IpPrefix> expired;
    for (const auto& [prefix, hold] : holds_) {
        if (hold.until <= now) expired.push_back(prefix);
    }
    if (expired.empty()) return;
    store_.transaction([&] {
        for (const auto& p : expired) store_.remove_container_hold(p);
    });
    for (const auto& p : expired) {
        holds_.erase(p);
        held_.remove(p);
    }
}

void Registry::commit(const std::function<void()>& write,
                      const std::function<void(MeshMap&)>& apply) {
    if (store_.shared()) {
        // What this change was checked against (free addresses, hostnames, keys) is the map;
        // it may commit only if the map holds every change in the store.
        store_.transaction([&] {
            const std::uint64_t stored = store_.version();
            if (stored != map_.version()) throw StoreConflict(stored);
            write();
        });
    } else {
        store_.transaction(write);
    }
    std::uint64_t before = 0, after = 0;
    {
        std::unique_lock lock(map_mutex_);
        before = map_.version();
        apply(map_);
        after = map_.version();
    }
    if (after != before) on_change_(after);
}

std::optional<NodeRecord> Registry::node(const std::string& id) const {
    std::optional<NodeRecord> out;
    {
        std::shared_lock lock(map_mutex_);
        if (const auto* n = map_.find(id)) out = n->record;
    }
    if (out) out->last_seen = last_seen(*out);
    return out;
}

std::uint64_t Registry::version() const {
    std::shared_lock lock(map_mutex_);
    return map_.version();
}

std::int64_t Registry::last_seen(const NodeRecord& node) const {
    std::lock_guard lock(touched_mutex_);
    auto it = touched_.find(node.id);
    return it == touched_.end() ? node.last_seen : std::max(it->second, node.last_seen);
}

NewToken Registry::create_token(const TokenParams& params) {
    std::int64_t ttl_seconds = params.ttl_seconds;
    if (ttl_seconds < 0 || ttl_seconds > 365 * 86400) {
        throw StatusError(Code::invalid_argument,
                          "token lifetime must be between 1 s and 365 days");
    }
    if (!params.reusable && params.max_uses > 1) {
        throw StatusError(Code::invalid_argument,
                          "max_uses needs a reusable token (a single-use token has one use)");
    }
    if (ttl_seconds == 0) ttl_seconds = 86400;
    auto tags = normalize_tags(params.tags);
    auto token = generate_token(clock_(), ttl_seconds, params.reusable, params.max_uses);
    token.record.tags = std::move(tags);
    token.record.ephemeral = params.ephemeral;
    std::lock_guard lock(write_mutex_);
    store_.put_token(token.record);
    return token;
}

void Registry::revoke_token_once(const std::string& token_id) {
    std::lock_guard lock(write_mutex_);
    store_.transaction([&] {
        auto record = store_.token(token_id);
        if (!record) {
            throw StatusError(Code::not_found, "no join token with id '" +
                                                   kb::escape_untrusted(token_id) +
                                                   "' (see `mesh-coordinator token list`)");
        }
        record->revoked = true;
        store_.put_token(*record);
    });
}

std::int64_t Registry::key_expiry() const {
    return network_.node_key_ttl ? clock_() + network_.node_key_ttl : 0;
}

NodeRecord Registry::create_node(const JoinParams& params, const std::string& hostname,
                                 std::uint64_t version) {
    auto ipv4 = map_.free_ipv4();
    if (!ipv4) {
        throw StatusError(Code::resource_exhausted, "the overlay prefix " +
                                                        network_.ipv4_prefix.to_string() +
                                                        " has no free address; remove stale nodes");
    }
    NodeRecord node;
    node.id = new_node_id();
    node.hostname = map_.unique_hostname(hostname);
    node.wireguard_key = params.wireguard_key;
    node.machine_key = params.machine_key;
    node.ipv4 = *ipv4;
    node.ipv6 = mirror_ipv6(network_.ipv6_prefix, network_.ipv4_prefix, *ipv4);
    node.created_at = clock_();
    node.version = version;
    node.key_version = version;
    node.last_seen = node.created_at;
    return node;
}

NodeRecord Registry::join_once(const JoinParams& params) {
    if (params.wireguard_key.is_zero()) {
        throw StatusError(Code::invalid_argument, "the WireGuard public key is all zeros");
    }
    const std::string hostname = normalize_hostname(params.hostname);
    const TokenText presented = parse_token(params.token);
    verify_machine_signature(
        params.machine_key, params.machine_signature,
        v1::join_proof_message(
            params.coordinator_fingerprint, params.token,
            std::string(reinterpret_cast<const char*>(params.wireguard_key.bytes.data()), 32)),
        "the join's machine_signature");
    std::lock_guard lock(write_mutex_);
    release_expired_holds_locked();
    NodeRecord result;
    std::vector<IpPrefix> reclaimed;  // holds this machine gets back
    commit(
        [&] {
            auto record = store_.token(presented.id);
            if (!record) {
                throw TokenRefused(TokenRefused::Reason::unknown,
                                   "unknown join token; ask the operator for a new one");
            }
            check_token(*record, presented, clock_());
            const auto* holder = map_.by_wireguard_key(params.wireguard_key);
            if (holder && holder->record.machine_key != params.machine_key) {
                throw StatusError(Code::permission_denied,
                                  "this WireGuard key already belongs to another machine; "
                                  "generate a new key");
            }
            std::uint64_t version = store_.bump_version();
            if (const auto* existing = map_.by_machine_key(params.machine_key)) {
                result = existing->record;
                if (result.wireguard_key != params.wireguard_key) result.key_version = version;
                result.wireguard_key = params.wireguard_key;
                if (result.hostname != hostname) {
                    result.hostname = map_.unique_hostname(hostname, result.id);
                }
                result.version = version;
            } else {
                result = create_node(params, hostname, version);
            }
            // The token decides tags and ephemerality; params.requested_tags is never read.
            result.tags = record->tags;
            result.ephemeral = record->ephemeral;
            result.key_expires_at = key_expiry();
            result.expired = false;
            result.last_seen = clock_();
            if (!params.endpoints.empty()) result.endpoints = params.endpoints;
            result.container_subnets = container_subnets_for(result, params.container);
            for (const auto& p : result.container_subnets) {
                auto hold = holds_.find(p);
                if (hold != holds_.end() && hold->second.machine_key == result.machine_key) {
                    store_.remove_container_hold(p);
                    reclaimed.push_back(p);
                }
            }
            store_.put_node(result);
            record->uses += 1;
            store_.put_token(*record);
        },
        [&](MeshMap& map) { map.upsert(result); });
    for (const auto& p : reclaimed) {
        holds_.erase(p);
        held_.remove(p);
    }
    return result;
}

std::vector<IpPrefix> Registry::container_subnets_for(const NodeRecord& node,
                                                      const ContainerRequest& request) const {
    using Kind = ContainerRequest::Kind;
    switch (request.kind) {
        case Kind::unchanged:
            return node.container_subnets;
        case Kind::none:
            return {};
        case Kind::automatic:
            break;
        case Kind::prefix: {
            const IpPrefix& p = request.prefix;
            const std::string name = "container subnet " + p.to_string();
            for (const auto& overlay : {network_.ipv4_prefix, network_.ipv6_prefix}) {
                if (p.overlaps(overlay)) {
                    throw StatusError(Code::invalid_argument,
                                      name + " overlaps the overlay " + overlay.to_string());
                }
            }
            if (auto held = map_.container_subnets().overlapping(p);
                held && held->owner != node.id) {
                const auto* other = map_.find(held->owner);
                throw StatusError(Code::invalid_argument,
                                  name + " overlaps " + held->prefix.to_string() + " of host " +
                                      (other ? other->record.hostname : "?") + " (" + held->owner +
                                      ")");
            }
            if (auto held = held_.overlapping(p)) {
                const auto& hold = holds_.at(held->prefix);
                if (hold.machine_key != node.machine_key) {
                    throw StatusError(Code::invalid_argument,
                                      name + " overlaps " + held->prefix.to_string() +
                                          ", held for the removed host " + hold.hostname + " for " +
                                          std::to_string(hold.until - clock_()) +
                                          " s more (--container-grace), in case it comes back");
                }
            }
            // The host's own block, asked for by name, is its already (a pool block included).
            bool own = std::find(node.container_subnets.begin(), node.container_subnets.end(), p) !=
                       node.container_subnets.end();
            for (const auto& pool : network_.container_pools) {
                if (!own && p.overlaps(pool.prefix)) {
                    throw StatusError(Code::invalid_argument,
                                      name + " overlaps the container pool " +
                                          pool.prefix.to_string() +
                                          ", whose blocks are handed out by \"auto\"");
                }
            }
            std::vector<IpPrefix> out{p};
            for (const auto& have : node.container_subnets) {
                if (have.address.family != p.address.family) out.push_back(have);
            }
            return out;
        }
    }
    if (network_.container_pools.empty() && node.container_subnets.empty()) {
        throw StatusError(Code::failed_precondition,
                          "this coordinator has no container pool (mesh-coordinator serve "
                          "--container-pool PREFIX); give the host a prefix of its own instead");
    }
    // A node keeps the subnets it has, from a pool or its own; "auto" fills in the families that
    // have a pool and no subnet yet.
    std::vector<IpPrefix> out = node.container_subnets;
    for (const auto& pool : network_.container_pools) {
        bool have = std::any_of(out.begin(), out.end(), [&](const IpPrefix& p) {
            return p.address.family == pool.prefix.address.family;
        });
        if (have) continue;
        if (auto back = held_for(node.machine_key, pool.prefix.address.family)) {
            out.push_back(*back);  // a removed host back within the grace period
            continue;
        }
        auto block =
            first_free_block(pool.prefix, pool.length, {&map_.container_subnets(), &held_});
        if (!block) {
            throw StatusError(Code::resource_exhausted,
                              "the container pool " + pool.prefix.to_string() + " has no free /" +
                                  std::to_string(pool.length) +
                                  " left; remove stale nodes or start the coordinator with a "
                                  "larger --container-pool");
        }
        out.push_back(*block);
    }
    return out;
}

// A node acting on its own record: it must exist and its key must not have expired.
NodeRecord Registry::live_node(const std::string& node_id) const {
    const auto* node = map_.find(node_id);
    if (!node) throw StatusError(Code::not_found, "node " + node_id + " does not exist");
    if (key_lapsed(node->record, clock_())) {
        throw StatusError(Code::permission_denied,
                          "this node's key expired; join again with a token");
    }
    return node->record;
}

void Registry::check_live(const std::string& node_id) const {
    std::shared_lock lock(map_mutex_);
    live_node(node_id);
}

bool Registry::update_endpoints_once(const std::string& node_id,
                                     const std::vector<Endpoint>& endpoints) {
    std::lock_guard lock(write_mutex_);
    NodeRecord node = live_node(node_id);
    if (node.endpoints == endpoints) return false;
    commit(
        [&] {
            node.version = store_.bump_version();
            node.endpoints = endpoints;
            store_.put_node(node);
        },
        [&](MeshMap& map) { map.upsert(node); });
    return true;
}

std::vector<std::string> Registry::update_endpoints_batch_once(
    const std::vector<EndpointUpdate>& updates) {
    std::lock_guard lock(write_mutex_);
    const std::int64_t now = clock_();
    std::vector<NodeRecord> changed;
    for (const auto& u : updates) {
        const auto* node = map_.find(u.node_id);
        if (!node || key_lapsed(node->record, now)) continue;
        const auto& r = node->record;
        const bool relay_changes =
            u.report.relay_given && (r.relay != u.report.relay || r.nat != u.report.nat);
        if (r.endpoints == u.report.endpoints && !relay_changes) continue;
        changed.push_back(r);
        changed.back().endpoints = u.report.endpoints;
        if (u.report.relay_given) {
            changed.back().relay = u.report.relay;
            changed.back().nat = u.report.nat;
        }
    }
    if (changed.empty()) return {};
    const std::size_t batch = store_.shared() ? kSharedBatch : changed.size();
    std::vector<std::string> ids;
    for (std::size_t start = 0; start < changed.size(); start += batch) {
        const std::size_t end = std::min(changed.size(), start + batch);
        commit(
            [&] {
                for (std::size_t i = start; i < end; ++i) {
                    changed[i].version = store_.bump_version();
                    store_.put_node(changed[i]);
                }
            },
            [&](MeshMap& map) {
                for (std::size_t i = start; i < end; ++i) map.upsert(changed[i]);
            });
        for (std::size_t i = start; i < end; ++i) ids.push_back(changed[i].id);
    }
    return ids;
}

const MapNode* Registry::find_node(const std::string& id_or_hostname) const {
    if (id_or_hostname.empty() || id_or_hostname.size() > 255) {
        throw StatusError(Code::invalid_argument, "give a node id or hostname (see nodes list)");
    }
    const auto* node = map_.find(id_or_hostname);
    if (!node) node = map_.by_hostname(id_or_hostname);
    if (!node) {
        throw StatusError(Code::not_found, "no node with id or hostname '" +
                                               kb::escape_untrusted(id_or_hostname) + "'");
    }
    return node;
}

std::string Registry::remove_node_once(const std::string& id_or_hostname) {
    std::lock_guard lock(write_mutex_);
    return remove_locked(find_node(id_or_hostname)->record);
}

std::string Registry::leave_once(const std::string& node_id, const std::string& signature,
                                 const std::string& coordinator_fingerprint) {
    if (node_id.empty() || node_id.size() > 64) {
        throw StatusError(Code::invalid_argument, "the leave's node_id must be 1..64 bytes");
    }
    std::lock_guard lock(write_mutex_);
    const auto* found = map_.find(node_id);
    if (!found) {
        // Not echoed: nothing in the request is authenticated yet.
        throw StatusError(Code::not_found, "no such node (removed already?)");
    }
    const NodeRecord node = found->record;
    verify_machine_signature(node.machine_key, signature,
                             v1::leave_proof_message(coordinator_fingerprint, node_id),
                             "the leave's signature");
    return remove_locked(node);
}

std::string Registry::remove_locked(const NodeRecord& node) {
    const std::string id = node.id;
    Removal removal{id, 0};
    // Its container subnets stay reserved for it for the grace period: containers that come
    // back with the host keep their addresses, and nobody else gets them meanwhile.
    std::vector<ContainerHold> holds;
    if (network_.container_grace > 0) {
        for (const auto& p : node.container_subnets) {
            holds.push_back(
                {p, node.machine_key, node.hostname, clock_() + network_.container_grace});
        }
    }
    commit(
        [&] {
            removal.version = store_.bump_version();
            store_.remove_node(id, removal.version);
            for (const auto& h : holds) store_.put_container_hold(h);
        },
        [&](MeshMap& map) { map.remove(removal.id, removal.version); });
    for (auto& h : holds) {
        if (auto old = holds_.find(h.prefix); old != holds_.end()) {
            holds_.erase(old);
            held_.remove(h.prefix);
        }
        held_.add(h.prefix, h.hostname);
        holds_.emplace(h.prefix, std::move(h));
    }
    std::lock_guard touched(touched_mutex_);
    touched_.erase(id);
    return id;
}

std::string Registry::expire_node_once(const std::string& id_or_hostname) {
    std::lock_guard lock(write_mutex_);
    NodeRecord node = find_node(id_or_hostname)->record;
    if (node.expired) return node.id;
    commit(
        [&] {
            node.version = store_.bump_version();
            node.expired = true;
            node.key_expires_at = clock_();  // expired now, whatever was left
            store_.put_node(node);
        },
        [&](MeshMap& map) { map.upsert(node); });
    return node.id;
}

NodeRecord Registry::rotate_key_once(const std::string& node_id, const Key& wireguard_key) {
    if (wireguard_key.is_zero()) {
        throw StatusError(Code::invalid_argument, "the new WireGuard public key is all zeros");
    }
    std::lock_guard lock(write_mutex_);
    NodeRecord node = live_node(node_id);
    if (node.wireguard_key == wireguard_key) {
        throw StatusError(Code::invalid_argument,
                          "the new WireGuard key is the current one; generate a fresh key");
    }
    const auto* holder = map_.by_wireguard_key(wireguard_key);
    if (holder && holder->record.id != node_id) {
        throw StatusError(Code::permission_denied,
                          "this WireGuard key belongs to another node; generate a new key");
    }
    commit(
        [&] {
            node.version = store_.bump_version();
            node.wireguard_key = wireguard_key;
            node.key_version = node.version;
            node.key_expires_at = key_expiry();
            store_.put_node(node);
        },
        [&](MeshMap& map) { map.upsert(node); });
    return node;
}

void Registry::touch(const std::string& node_id) {
    const std::int64_t now = clock_();
    std::lock_guard lock(touched_mutex_);
    touched_[node_id] = now;
}

void Registry::flush_last_seen() {
    std::unordered_map<std::string, std::int64_t> pending;
    {
        std::lock_guard lock(touched_mutex_);
        pending.swap(touched_);
    }
    if (pending.empty()) return;
    std::lock_guard lock(write_mutex_);
    std::vector<std::pair<std::string, std::int64_t>> present;
    for (const auto& [id, seen] : pending) {
        if (map_.find(id)) present.emplace_back(id, seen);
    }
    const std::size_t batch = store_.shared() ? kSharedTouches : present.size();
    try {
        for (std::size_t start = 0; start < present.size(); start += batch) {
            store_.transaction([&] {
                for (std::size_t i = start; i < std::min(present.size(), start + batch); ++i) {
                    store_.touch_node(present[i].first, present[i].second);
                }
            });
        }
    } catch (...) {
        // Kept for the next flush (newer touches win), so an outage loses none.
        std::lock_guard touched(touched_mutex_);
        for (const auto& [id, seen] : present) {
            auto& slot = touched_[id];
            slot = std::max(slot, seen);
        }
        throw;
    }
    std::unique_lock map_lock(map_mutex_);
    for (const auto& [id, seen] : present) map_.set_last_seen(id, seen);
}

ReapResult Registry::reap_once(const std::function<bool(const std::string&)>& connected,
                               std::int64_t serving_since) {
    const std::int64_t now = clock_();
    std::lock_guard lock(write_mutex_);
    release_expired_holds_locked();
    std::vector<NodeRecord> expire;
    std::vector<std::string> remove;
    for (const auto& [id, node] : map_.nodes()) {
        const auto& r = node.record;
        if (r.ephemeral && !connected(id) &&
            std::max(last_seen(r), serving_since) + network_.ephemeral_inactivity <= now) {
            remove.push_back(id);
        } else if (!r.expired && r.key_expires_at != 0 && r.key_expires_at <= now) {
            expire.push_back(r);
        }
    }
    if (expire.empty() && remove.empty()) return {};
    if (store_.shared()) {  // the rest at the next pass, a second later
        if (remove.size() > kSharedRemovals) remove.resize(kSharedRemovals);
        const std::size_t room = kSharedBatch - (remove.size() * 3 + 2) / 3;  // in node puts
        if (expire.size() > room) expire.resize(room);
    }
    ReapResult result;
    std::vector<Removal> removals;
    commit(
        [&] {
            for (const auto& id : remove) {
                removals.push_back({id, store_.bump_version()});
                store_.remove_node(id, removals.back().version);
            }
            for (auto& n : expire) {
                n.version = store_.bump_version();
                n.expired = true;
                store_.put_node(n);
            }
        },
        [&](MeshMap& map) {
            for (const auto& n : expire) map.upsert(n);
            for (const auto& r : removals) map.remove(r.id, r.version);
        });
    for (const auto& n : expire) result.expired.push_back(n.id);
    result.removed = remove;
    return result;
}

std::vector<std::string> Registry::settle_key_expiry_once() {
    const std::int64_t now = clock_();
    const std::int64_t ttl = network_.node_key_ttl;
    std::lock_guard lock(write_mutex_);
    std::vector<NodeRecord> changed;
    for (const auto& [id, node] : map_.nodes()) {
        const auto& r = node.record;
        if (key_lapsed(r, now)) continue;  // the reaper's (it runs right after)
        std::int64_t wanted = r.key_expires_at;
        if (ttl == 0) {
            wanted = 0;  // agents rotate only under a TTL: an old expiry would just lapse
        } else if (r.key_expires_at == 0 || r.key_expires_at > now + ttl) {
            wanted = now + ttl;
        }
        if (wanted == r.key_expires_at) continue;
        changed.push_back(r);
        changed.back().key_expires_at = wanted;
        if (store_.shared() && changed.size() == kSharedBatch) break;  // the caller loops
    }
    if (changed.empty()) return {};
    commit(
        [&] {
            for (auto& n : changed) {
                n.version = store_.bump_version();
                store_.put_node(n);
            }
        },
        [&](MeshMap& map) {
            for (const auto& n : changed) map.upsert(n);
        });
    std::vector<std::string> ids;
    for (const auto& n : changed) ids.push_back(n.id);
    return ids;
}

std::string Registry::create_operator_credential() {
    auto credential = generate_operator_credential();
    std::lock_guard lock(write_mutex_);
    store_.set_meta("operator_credential",
                    encode_credential_record(credential.id, credential.hash));
    return credential.text;
}

void Registry::check_operator(const std::string& presented) {
    if (presented.empty()) {
        throw StatusError(Code::unauthenticated,
                          "the operator API needs a credential (metadata authorization: Bearer "
                          "mesh-op1_...); make one with `mesh-coordinator credential create`");
    }
    if (looks_like_join_token(presented)) {
        throw StatusError(Code::permission_denied,
                          "a join token lets a host join; it does not grant the operator API");
    }
    check_operator_credential(store_.meta("operator_credential"),
                              parse_operator_credential(presented));
}

// A shared store's change that lost to another replica's is tried again once this replica's
// map has that change: its checks (and its token's uses) are then made against the new state.
template <class F>
auto Registry::retrying(F&& attempt) -> decltype(attempt()) {
    constexpr int kAttempts = 50;
    for (int i = 1;; ++i) {
        try {
            return attempt();
        } catch (const StoreConflict& conflict) {
            if (i == kAttempts) {
                throw StatusError(Code::aborted,
                                  "too many changes from other coordinators at once; try again");
            }
            if (!wait_for_version(conflict.version(), std::chrono::seconds(3))) {
                throw StatusError(
                    Code::unavailable,
                    "this coordinator's copy of the map is behind the store (version " +
                        std::to_string(version()) + ", store " +
                        std::to_string(conflict.version()) +
                        ") and is not catching up: its watch of etcd is down; try another "
                        "coordinator");
            }
        }
    }
}

bool Registry::wait_for_version(std::uint64_t version, std::chrono::milliseconds timeout) {
    std::unique_lock lock(caught_up_mutex_);
    return caught_up_.wait_for(lock, timeout, [&] { return this->version() >= version; });
}

void Registry::revoke_token(const std::string& token_id) {
    retrying([&] { revoke_token_once(token_id); });
}
NodeRecord Registry::join(const JoinParams& params) {
    return retrying([&] { return join_once(params); });
}
bool Registry::update_endpoints(const std::string& node_id,
                                const std::vector<Endpoint>& endpoints) {
    return retrying([&] { return update_endpoints_once(node_id, endpoints); });
}
std::vector<std::string> Registry::update_endpoints_batch(
    const std::vector<EndpointUpdate>& updates) {
    return retrying([&] { return update_endpoints_batch_once(updates); });
}
std::string Registry::remove_node(const std::string& id_or_hostname) {
    return retrying([&] { return remove_node_once(id_or_hostname); });
}
std::string Registry::leave(const std::string& node_id, const std::string& signature,
                            const std::string& coordinator_fingerprint) {
    return retrying([&] { return leave_once(node_id, signature, coordinator_fingerprint); });
}
std::string Registry::expire_node(const std::string& id_or_hostname) {
    return retrying([&] { return expire_node_once(id_or_hostname); });
}
NodeRecord Registry::rotate_key(const std::string& node_id, const Key& wireguard_key) {
    return retrying([&] { return rotate_key_once(node_id, wireguard_key); });
}
ReapResult Registry::reap(const std::function<bool(const std::string&)>& connected,
                          std::int64_t serving_since) {
    return retrying([&] { return reap_once(connected, serving_since); });
}
std::vector<std::string> Registry::settle_key_expiry() {
    std::vector<std::string> all;
    // A shared store commits at most kSharedBatch records at a time: loop until nothing is left.
    for (int pass = 0; pass < 10000; ++pass) {
        auto some = retrying([&] { return settle_key_expiry_once(); });
        if (some.empty()) break;
        all.insert(all.end(), some.begin(), some.end());
        if (!store_.shared()) break;
    }
    return all;
}

void Registry::apply_remote(const RemoteChanges& changes) {
    std::uint64_t before = 0, after = 0;
    {
        std::lock_guard write(write_mutex_);
        {
            std::unique_lock lock(map_mutex_);
            before = map_.version();
            for (const auto& n : changes.upserts) {
                const auto* have = map_.find(n.id);
                if (have && have->record.version >= n.version) continue;  // ours, or older
                if (!have) {
                    auto removed = map_.removed_at(n.id);
                    if (removed && *removed >= n.version) continue;
                }
                NodeRecord record = n;
                if (have) record.last_seen = std::max(record.last_seen, have->record.last_seen);
                map_.upsert(record);
            }
            for (const auto& r : changes.removals) {
                auto removed = map_.removed_at(r.id);
                if (removed && *removed >= r.version) continue;
                const auto* have = map_.find(r.id);
                if (have && have->record.version > r.version) continue;
                map_.remove(r.id, r.version);
            }
            for (const auto& [id, seen] : changes.seen) {
                if (const auto* have = map_.find(id); have && have->record.last_seen < seen) {
                    map_.set_last_seen(id, seen);
                }
            }
            if (changes.version) map_.advance_version(*changes.version);
            after = map_.version();
        }
        for (const auto& h : changes.holds_removed) {
            if (holds_.erase(h)) held_.remove(h);
        }
        for (const auto& h : changes.holds_put) {
            if (auto old = holds_.find(h.prefix); old != holds_.end()) {
                holds_.erase(old);
                held_.remove(h.prefix);
            }
            if (held_.overlapping(h.prefix)) continue;  // never written so; ignore, not trust
            held_.add(h.prefix, h.hostname);
            holds_.emplace(h.prefix, h);
        }
    }
    if (after != before) on_change_(after);
    { std::lock_guard lock(caught_up_mutex_); }
    caught_up_.notify_all();
}

std::vector<IpPrefix> interface_addresses(const NodeRecord& node, const NetworkConfig& network) {
    return {IpPrefix{node.ipv4, network.ipv4_prefix.length},
            IpPrefix{node.ipv6, network.ipv6_prefix.length}};
}

}  // namespace mesh::coord
