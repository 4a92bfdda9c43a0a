#include "coordinator/etcd_records.hpp"

#include <charconv>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "mesh/v1/store_records.pb.h"

namespace mesh::coord {

namespace sv1 = mesh::store::v1;

namespace {

[[noreturn]] void corrupt(std::string_view key, const std::string& why) {
    throw Error("etcd key " + kb::escape_untrusted(key, 200) + ": " + why +
                " (written by another program, or a newer release?)");
}

template <class Message>
Message parse_message(std::string_view bytes, std::string_view key, const char* what) {
    Message m;
    if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        corrupt(key, std::string("not a ") + what + " record");
    }
    return m;
}

Key key_from(const std::string& bytes, std::string_view key, const char* field) {
    if (bytes.size() != 32) corrupt(key, std::string(field) + " is not 32 bytes");
    Key k;
    std::copy(bytes.begin(), bytes.end(), k.bytes.begin());
    return k;
}

std::string key_bytes(const Key& k) {
    return std::string(reinterpret_cast<const char*>(k.bytes.data()), k.bytes.size());
}

// Parsers of the records' text fields, with the key named on failure.
template <class T, class F>
T parse_field(const std::string& text, std::string_view key, const char* field, F parse) {
    try {
        return parse(text);
    } catch (const Error& e) {
        corrupt(key, std::string(field) + ": " + e.what());
    }
}

IpAddress address_from(const std::string& text, std::string_view key, const char* field) {
    if (text.empty()) return {};
    return parse_field<IpAddress>(text, key, field,
                                  [](const std::string& t) { return IpAddress::parse(t); });
}

Endpoint endpoint_from(const std::string& text, std::string_view key, const char* field) {
    return parse_field<Endpoint>(text, key, field,
                                 [](const std::string& t) { return Endpoint::parse(t); });
}

IpPrefix prefix_from(const std::string& text, std::string_view key, const char* field) {
    return parse_field<IpPrefix>(text, key, field,
                                 [](const std::string& t) { return IpPrefix::parse(t); });
}

}  // namespace

std::string prefix_range_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            ++last;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

std::string EtcdKeys::hold(const IpPrefix& prefix) const {
    std::string text = prefix.to_string();
    for (auto& c : text) {
        if (c == '/') c = '_';
    }
    return prefix_ + "holds/" + text;
}

EtcdKeys::Parsed EtcdKeys::parse(std::string_view key) const {
    if (!key.starts_with(prefix_)) return {};
    auto rest = key.substr(prefix_.size());
    if (rest == "version") return {Kind::version, ""};
    if (rest == "reaper") return {Kind::reaper, ""};
    static const std::pair<std::string_view, Kind> dirs[] = {
        {"meta/", Kind::meta},       {"tokens/", Kind::token}, {"nodes/", Kind::node},
        {"removed/", Kind::removed}, {"holds/", Kind::hold},   {"seen/", Kind::seen},
        {"live/", Kind::live},       {"acks/", Kind::acks},
    };
    for (const auto& [dir, kind] : dirs) {
        if (rest.starts_with(dir) && rest.size() > dir.size()) {
            std::string name(rest.substr(dir.size()));
            if (kind == Kind::hold) {
                for (auto& c : name) {
                    if (c == '_') c = '/';
                }
            }
            return {kind, std::move(name)};
        }
    }
    return {};
}

std::uint64_t decode_number(std::string_view text, std::string_view key) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        corrupt(key, "not a decimal number");
    }
    return value;
}

std::string encode_node(const NodeRecord& n) {
    sv1::Node m;
    m.set_id(n.id);
    m.set_hostname(n.hostname);
    m.set_wireguard_key(key_bytes(n.wireguard_key));
    m.set_machine_key(key_bytes(n.machine_key));
    m.set_ipv4(n.ipv4.to_string());
    m.set_ipv6(n.ipv6.to_string());
    for (const auto& e : n.endpoints) m.add_endpoints(e.to_string());
    if (n.relay) m.set_relay(n.relay->to_string());
    m.set_nat(n.nat);
    m.set_created_at(n.created_at);
    m.set_version(n.version);
    m.set_key_version(n.key_version);
    for (const auto& t : n.tags) m.add_tags(t);
    m.set_ephemeral(n.ephemeral);
    m.set_key_expires_at(n.key_expires_at);
    m.set_expired(n.expired);
    m.set_last_seen(n.last_seen);
    for (const auto& p : n.container_subnets) m.add_container_subnets(p.to_string());
    return m.SerializeAsString();
}

NodeRecord decode_node(std::string_view bytes, std::string_view key) {
    auto m = parse_message<sv1::Node>(bytes, key, "node");
    NodeRecord n;
    if (m.id().empty()) corrupt(key, "a node without an id");
    n.id = m.id();
    n.hostname = m.hostname();
    n.wireguard_key = key_from(m.wireguard_key(), key, "wireguard_key");
    n.machine_key = key_from(m.machine_key(), key, "machine_key");
    n.ipv4 = address_from(m.ipv4(), key, "ipv4");
    n.ipv6 = address_from(m.ipv6(), key, "ipv6");
    for (const auto& e : m.endpoints()) n.endpoints.push_back(endpoint_from(e, key, "endpoints"));
    if (!m.relay().empty()) n.relay = endpoint_from(m.relay(), key, "relay");
    n.nat = m.nat();
    n.created_at = m.created_at();
    n.version = m.version();
    n.key_version = m.key_version();
    n.tags.assign(m.tags().begin(), m.tags().end());
    n.ephemeral = m.ephemeral();
    n.key_expires_at = m.key_expires_at();
    n.expired = m.expired();
    n.last_seen = m.last_seen();
    for (const auto& p : m.container_subnets()) {
        n.container_subnets.push_back(prefix_from(p, key, "container_subnets"));
    }
    return n;
}

std::string encode_token(const TokenRecord& t) {
    sv1::Token m;
    m.set_id(t.id);
    m.set_hash(std::string(reinterpret_cast<const char*>(t.hash.data()), t.hash.size()));
    m.set_created_at(t.created_at);
    m.set_expires_at(t.expires_at);
    m.set_reusable(t.reusable);
    m.set_max_uses(t.max_uses);
    m.set_uses(t.uses);
    m.set_revoked(t.revoked);
    for (const auto& tag : t.tags) m.add_tags(tag);
    m.set_ephemeral(t.ephemeral);
    return m.SerializeAsString();
}

TokenRecord decode_token(std::string_view bytes, std::string_view key) {
    auto m = parse_message<sv1::Token>(bytes, key, "token");
    TokenRecord t;
    t.id = m.id();
    if (m.hash().size() != t.hash.size()) corrupt(key, "the token hash is not 32 bytes");
    std::copy(m.hash().begin(), m.hash().end(), t.hash.begin());
    t.created_at = m.created_at();
    t.expires_at = m.expires_at();
    t.reusable = m.reusable();
    t.max_uses = m.max_uses();
    t.uses = m.uses();
    t.revoked = m.revoked();
    t.tags.assign(m.tags().begin(), m.tags().end());
    t.ephemeral = m.ephemeral();
    return t;
}

std::string encode_hold(const ContainerHold& h) {
    sv1::ContainerHold m;
    m.set_prefix(h.prefix.to_string());
    m.set_machine_key(key_bytes(h.machine_key));
    m.set_hostname(h.hostname);
    m.set_until(h.until);
    return m.SerializeAsString();
}

ContainerHold decode_hold(std::string_view bytes, std::string_view key) {
    auto m = parse_message<sv1::ContainerHold>(bytes, key, "container hold");
    ContainerHold h;
    h.prefix = prefix_from(m.prefix(), key, "prefix");
    h.machine_key = key_from(m.machine_key(), key, "machine_key");
    h.hostname = m.hostname();
    h.until = m.until();
    return h;
}

std::string encode_live(const LiveNode& live) {
    sv1::LiveNode m;
    m.set_replica(live.replica);
    if (live.paths) {
        const auto& p = *live.paths;
        m.set_nat(static_cast<int>(p.nat) + 1);  // 0 = no report yet
        if (p.reflexive) m.set_reflexive(p.reflexive->to_string());
        for (const auto& peer : p.peers) {
            auto* out = m.add_peers();
            out->set_node_id(peer.node_id);
            out->set_kind(static_cast<int>(peer.kind));
            if (peer.endpoint) out->set_endpoint(peer.endpoint->to_string());
            out->set_rtt_us(peer.rtt_us);
        }
    }
    return m.SerializeAsString();
}

LiveNode decode_live(std::string_view bytes, std::string_view key) {
    auto m = parse_message<sv1::LiveNode>(bytes, key, "live node");
    LiveNode live;
    live.replica = m.replica();
    if (m.nat() == 0) return live;
    if (m.nat() < 1 || m.nat() > 4) corrupt(key, "an unknown NAT type");
    NodePaths p;
    p.nat = static_cast<NodePaths::Nat>(m.nat() - 1);
    if (!m.reflexive().empty()) p.reflexive = endpoint_from(m.reflexive(), key, "reflexive");
    for (const auto& peer : m.peers()) {
        if (peer.kind() < 0 || peer.kind() > static_cast<int>(PeerPath::Kind::relay)) {
            corrupt(key, "an unknown path kind");
        }
        PeerPath out;
        out.node_id = peer.node_id();
        out.kind = static_cast<PeerPath::Kind>(peer.kind());
        if (!peer.endpoint().empty())
            out.endpoint = endpoint_from(peer.endpoint(), key, "endpoint");
        out.rtt_us = peer.rtt_us();
        p.peers.push_back(std::move(out));
    }
    live.paths = std::move(p);
    return live;
}

std::string encode_acks(const AckSummary& acks) {
    sv1::Acks m;
    m.set_version(acks.version);
    for (const auto& [id, applied] : acks.behind) {
        auto* b = m.add_behind();
        b->set_node_id(id);
        b->set_applied(applied);
    }
    return m.SerializeAsString();
}

AckSummary decode_acks(std::string_view bytes, std::string_view key) {
    auto m = parse_message<sv1::Acks>(bytes, key, "acks");
    AckSummary acks;
    acks.version = m.version();
    for (const auto& b : m.behind()) acks.behind[b.node_id()] = b.applied();
    return acks;
}

}  // namespace mesh::coord
