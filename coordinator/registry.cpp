#include "coordinator/registry.hpp"

#include <sodium.h>

#include <set>

#include "coordinator/hostname.hpp"
#include "coordinator/ipam.hpp"
#include "coordinator/status_error.hpp"

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

NewToken Registry::create_token(std::int64_t ttl_seconds, bool reusable, std::uint32_t max_uses) {
    if (ttl_seconds < 0 || ttl_seconds > 365 * 86400) {
        throw StatusError(Code::invalid_argument,
                          "token lifetime must be between 1 s and 365 days");
    }
    if (ttl_seconds == 0) ttl_seconds = 86400;
    auto token = generate_token(clock_(), ttl_seconds, reusable, max_uses);
    store_.put_token(token.record);
    return token;
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
    return node;
}

NodeRecord Registry::join(const JoinParams& params) {
    if (params.wireguard_key.is_zero()) {
        throw StatusError(Code::invalid_argument, "the WireGuard public key is all zeros");
    }
    const std::string hostname = normalize_hostname(params.hostname);
    const TokenText presented = parse_token(params.token);
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
        auto node = store_.node(node_id);
        if (!node) throw StatusError(Code::not_found, "node " + node_id + " does not exist");
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

std::string Registry::remove_node(const std::string& id_or_hostname) {
    std::string id;
    std::uint64_t version = 0;
    store_.transaction([&] {
        auto node = store_.node(id_or_hostname);
        if (!node) node = store_.node_by_hostname(id_or_hostname);
        if (!node) {
            throw StatusError(Code::not_found,
                              "no node with id or hostname '" + id_or_hostname + "'");
        }
        id = node->id;
        version = store_.bump_version();
        store_.remove_node(id, version);
    });
    on_change_(version);
    return id;
}

std::vector<IpPrefix> interface_addresses(const NodeRecord& node, const NetworkConfig& network) {
    return {IpPrefix{node.ipv4, network.ipv4_prefix.length},
            IpPrefix{node.ipv6, network.ipv6_prefix.length}};
}

}  // namespace mesh::coord
