#include "coordinator/registry.hpp"

#include <sodium.h>

#include <algorithm>
#include <set>

#include "coordinator/hostname.hpp"
#include "coordinator/ipam.hpp"
#include "coordinator/machine_proof.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/tags.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "sync_proof.hpp"

namespace mesh::coord {

namespace {

std::string new_node_id() {
    unsigned char raw[8];
    randombytes_buf(raw, sizeof raw);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    return std::string("n-") + hex;
}

}  // namespace

Registry::Registry(Store& store, NetworkConfig network, Clock clock, OnChange on_change)
    : store_(store),
      network_(std::move(network)),
      clock_(std::move(clock)),
      on_change_(std::move(on_change)) {}

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
    store_.put_token(token.record);
    return token;
}

void Registry::revoke_token(const std::string& token_id) {
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
    std::set<IpAddress> used;
    for (const auto& n : store_.nodes()) used.insert(n.ipv4);
    auto ipv4 = allocate_ipv4(network_.ipv4_prefix, used);
    if (!ipv4) {
        throw StatusError(Code::resource_exhausted, "the overlay prefix " +
                                                        network_.ipv4_prefix.to_string() +
                                                        " has no free address; remove stale nodes");
    }
    NodeRecord node;
    node.id = new_node_id();
    node.hostname = unique_hostname(
        hostname, [&](const std::string& h) { return store_.node_by_hostname(h).has_value(); });
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

NodeRecord Registry::join(const JoinParams& params) {
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
    NodeRecord result;
    std::uint64_t version = 0;
    store_.transaction([&] {
        auto record = store_.token(presented.id);
        if (!record) {
            throw StatusError(Code::unauthenticated,
                              "unknown join token; ask the operator for a new one");
        }
        check_token(*record, presented, clock_());
        auto holder = store_.node_by_wireguard_key(params.wireguard_key);
        if (holder && holder->machine_key != params.machine_key) {
            throw StatusError(Code::permission_denied,
                              "this WireGuard key already belongs to another machine; generate a "
                              "new key");
        }
        version = store_.bump_version();
        if (auto existing = store_.node_by_machine_key(params.machine_key)) {
            result = *existing;
            if (result.wireguard_key != params.wireguard_key) result.key_version = version;
            result.wireguard_key = params.wireguard_key;
            if (result.hostname != hostname) {
                result.hostname = unique_hostname(hostname, [&](const std::string& h) {
                    auto other = store_.node_by_hostname(h);
                    return other && other->id != result.id;
                });
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
        store_.put_node(result);
        record->uses += 1;
        store_.put_token(*record);
    });
    on_change_(version);
    return result;
}

bool Registry::update_endpoints(const std::string& node_id,
                                const std::vector<Endpoint>& endpoints) {
    bool changed = false;
    std::uint64_t version = 0;
    store_.transaction([&] {
        auto node = live_node(node_id);
        if (node->endpoints == endpoints) return;
        version = store_.bump_version();
        node->endpoints = endpoints;
        node->version = version;
        store_.put_node(*node);
        changed = true;
    });
    if (changed) on_change_(version);
    return changed;
}

// A node acting on its own record: it must exist and its key must not have expired.
std::optional<NodeRecord> Registry::live_node(const std::string& node_id) {
    auto node = store_.node(node_id);
    if (!node) throw StatusError(Code::not_found, "node " + node_id + " does not exist");
    if (key_lapsed(*node, clock_())) {
        throw StatusError(Code::permission_denied,
                          "this node's key expired; join again with a token");
    }
    return node;
}

std::optional<NodeRecord> Registry::find_node(const std::string& id_or_hostname) {
    if (id_or_hostname.empty() || id_or_hostname.size() > 255) {
        throw StatusError(Code::invalid_argument, "give a node id or hostname (see nodes list)");
    }
    auto node = store_.node(id_or_hostname);
    if (!node) node = store_.node_by_hostname(id_or_hostname);
    if (!node) {
        throw StatusError(Code::not_found, "no node with id or hostname '" +
                                               kb::escape_untrusted(id_or_hostname) + "'");
    }
    return node;
}

std::string Registry::remove_node(const std::string& id_or_hostname) {
    std::string id;
    std::uint64_t version = 0;
    store_.transaction([&] {
        auto node = find_node(id_or_hostname);
        id = node->id;
        version = store_.bump_version();
        store_.remove_node(id, version);
    });
    on_change_(version);
    return id;
}

std::string Registry::expire_node(const std::string& id_or_hostname) {
    std::string id;
    std::uint64_t version = 0;
    store_.transaction([&] {
        auto node = find_node(id_or_hostname);
        id = node->id;
        if (node->expired) return;
        version = store_.bump_version();
        node->expired = true;
        node->key_expires_at = clock_();  // expired now, whatever was left
        node->version = version;
        store_.put_node(*node);
    });
    if (version) on_change_(version);
    return id;
}

NodeRecord Registry::rotate_key(const std::string& node_id, const Key& wireguard_key) {
    if (wireguard_key.is_zero()) {
        throw StatusError(Code::invalid_argument, "the new WireGuard public key is all zeros");
    }
    NodeRecord result;
    std::uint64_t version = 0;
    store_.transaction([&] {
        auto node = live_node(node_id);
        if (node->wireguard_key == wireguard_key) {
            throw StatusError(Code::invalid_argument,
                              "the new WireGuard key is the current one; generate a fresh key");
        }
        auto holder = store_.node_by_wireguard_key(wireguard_key);
        if (holder && holder->id != node_id) {
            throw StatusError(Code::permission_denied,
                              "this WireGuard key belongs to another node; generate a new key");
        }
        version = store_.bump_version();
        node->wireguard_key = wireguard_key;
        node->key_version = version;
        node->key_expires_at = key_expiry();
        node->version = version;
        store_.put_node(*node);
        result = *node;
    });
    on_change_(version);
    return result;
}

std::vector<std::string> Registry::settle_key_expiry() {
    const std::int64_t now = clock_();
    const std::int64_t ttl = network_.node_key_ttl;
    std::vector<std::string> changed;
    std::uint64_t version = 0;
    store_.transaction([&] {
        for (auto& node : store_.nodes()) {
            if (key_lapsed(node, now)) continue;  // the reaper's (it runs right after)
            std::int64_t wanted = node.key_expires_at;
            if (ttl == 0) {
                wanted = 0;  // agents rotate only under a TTL: an old expiry would just lapse
            } else if (node.key_expires_at == 0 || node.key_expires_at > now + ttl) {
                wanted = now + ttl;
            }
            if (wanted == node.key_expires_at) continue;
            version = store_.bump_version();
            node.key_expires_at = wanted;
            node.version = version;
            store_.put_node(node);
            changed.push_back(node.id);
        }
    });
    if (version) on_change_(version);
    return changed;
}

void Registry::touch(const std::string& node_id) {
    store_.touch_node(node_id, clock_());
}

ReapResult Registry::reap(const std::function<bool(const std::string&)>& connected,
                          std::int64_t serving_since) {
    const std::int64_t now = clock_();
    enum class Due { nothing, remove, expire };
    auto due = [&](const NodeRecord& node) {
        if (node.ephemeral && !connected(node.id) &&
            std::max(node.last_seen, serving_since) + network_.ephemeral_inactivity <= now) {
            return Due::remove;
        }
        if (!node.expired && node.key_expires_at != 0 && node.key_expires_at <= now) {
            return Due::expire;
        }
        return Due::nothing;
    };
    // The pass runs every second: it reads only the nodes that may be due (the store's index
    // does the filtering), and takes SQLite's write lock only when one is.
    auto candidates = store_.reap_candidates(now);
    if (std::none_of(candidates.begin(), candidates.end(),
                     [&](const NodeRecord& n) { return due(n) != Due::nothing; })) {
        return {};
    }
    ReapResult result;
    std::uint64_t version = 0;
    store_.transaction([&] {
        for (auto& node : store_.reap_candidates(now)) {  // again, inside the transaction
            switch (due(node)) {
                case Due::remove:
                    version = store_.bump_version();
                    store_.remove_node(node.id, version);
                    result.removed.push_back(node.id);
                    break;
                case Due::expire:
                    version = store_.bump_version();
                    node.expired = true;
                    node.version = version;
                    store_.put_node(node);
                    result.expired.push_back(node.id);
                    break;
                case Due::nothing:
                    break;
            }
        }
    });
    if (version) on_change_(version);
    return result;
}

std::string Registry::create_operator_credential() {
    auto credential = generate_operator_credential();
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

std::vector<IpPrefix> interface_addresses(const NodeRecord& node, const NetworkConfig& network) {
    return {IpPrefix{node.ipv4, network.ipv4_prefix.length},
            IpPrefix{node.ipv6, network.ipv6_prefix.length}};
}

}  // namespace mesh::coord
