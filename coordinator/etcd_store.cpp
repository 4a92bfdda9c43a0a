#include "coordinator/etcd_store.hpp"

namespace mesh::coord {

EtcdStore::EtcdStore(EtcdClient& client, std::string prefix)
    : client_(client), keys_(std::move(prefix)) {}

void EtcdStore::transaction(const std::function<void()>& fn) {
    std::lock_guard lock(mutex_);
    if (pending_) {  // nested: part of the enclosing transaction
        fn();
        return;
    }
    pending_.emplace();
    try {
        fn();
    } catch (...) {
        pending_.reset();
        throw;
    }
    Pending done = std::move(*pending_);
    pending_.reset();
    commit(done);
}

void EtcdStore::commit(const Pending& pending) {
    if (pending.writes.empty()) return;  // read only: nothing to make atomic
    etcdpb::TxnRequest request;
    for (const auto& [key, revision] : pending.reads) {
        auto* c = request.add_compare();
        c->set_key(key);
        c->set_target(etcdpb::Compare::MOD);
        c->set_result(etcdpb::Compare::EQUAL);
        c->set_mod_revision(revision);
    }
    for (const auto& [key, value] : pending.writes) {
        auto* op = request.add_success();
        if (value) {
            auto* put = op->mutable_request_put();
            put->set_key(key);
            put->set_value(*value);
        } else {
            op->mutable_request_delete_range()->set_key(key);
        }
    }
    // On a conflict, the version now: how far this replica's map must catch up.
    request.add_failure()->mutable_request_range()->set_key(keys_.version());
    auto response = client_.txn(request);
    if (response.succeeded()) return;
    std::uint64_t now = 0;
    if (response.responses_size() == 1 && response.responses(0).has_response_range()) {
        const auto& kvs = response.responses(0).response_range().kvs();
        if (!kvs.empty()) now = decode_number(kvs[0].value(), keys_.version());
    }
    throw StoreConflict(now);
}

std::optional<std::string> EtcdStore::get(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (pending_) {
        if (auto w = pending_->writes.find(key); w != pending_->writes.end()) return w->second;
    }
    auto response = client_.range(key);
    std::optional<std::string> value;
    std::int64_t revision = 0;
    if (!response.kvs().empty()) {
        value = response.kvs(0).value();
        revision = response.kvs(0).mod_revision();
    }
    if (pending_) pending_->reads.try_emplace(key, revision);
    return value;
}

void EtcdStore::put(const std::string& key, std::string value) {
    std::lock_guard lock(mutex_);
    if (pending_) {
        pending_->writes[key] = std::move(value);
        return;
    }
    transaction([&] { pending_->writes[key] = std::move(value); });
}

void EtcdStore::erase(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (pending_) {
        pending_->writes[key] = std::nullopt;
        return;
    }
    transaction([&] { pending_->writes[key] = std::nullopt; });
}

// Every key under `dir` (not the transaction's pending writes: the lists serve reads outside
// a change, e.g. `token list`).
std::vector<std::pair<std::string, std::string>> EtcdStore::list(const std::string& dir) {
    auto response = client_.range(dir, prefix_range_end(dir));
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(response.kvs_size());
    for (const auto& kv : response.kvs()) out.emplace_back(kv.key(), kv.value());
    return out;
}

StoreSnapshot EtcdStore::load() {
    auto response = client_.range(keys_.prefix(), prefix_range_end(keys_.prefix()));
    StoreSnapshot out;
    out.revision = response.header().revision();
    std::map<std::string, std::int64_t> seen;
    for (const auto& kv : response.kvs()) {
        auto parsed = keys_.parse(kv.key());
        switch (parsed.kind) {
            case EtcdKeys::Kind::version:
                out.version = decode_number(kv.value(), kv.key());
                break;
            case EtcdKeys::Kind::node:
                out.nodes.push_back(decode_node(kv.value(), kv.key()));
                break;
            case EtcdKeys::Kind::removed:
                out.removals.push_back({parsed.name, decode_number(kv.value(), kv.key())});
                break;
            case EtcdKeys::Kind::hold:
                out.holds.push_back(decode_hold(kv.value(), kv.key()));
                break;
            case EtcdKeys::Kind::seen:
                seen[parsed.name] = static_cast<std::int64_t>(decode_number(kv.value(), kv.key()));
                break;
            default:
                break;
        }
    }
    for (auto& n : out.nodes) {
        if (auto s = seen.find(n.id); s != seen.end())
            n.last_seen = std::max(n.last_seen, s->second);
    }
    return out;
}

std::optional<std::string> EtcdStore::meta(const std::string& key) {
    return get(keys_.meta(key));
}

void EtcdStore::set_meta(const std::string& key, const std::string& value) {
    put(keys_.meta(key), value);
}

void EtcdStore::ping() {
    client_.range(keys_.version());
}

std::uint64_t EtcdStore::version() {
    std::lock_guard lock(mutex_);
    if (pending_ && pending_->version_base) return *pending_->version_base + pending_->bumps;
    auto text = get(keys_.version());
    std::uint64_t v = text ? decode_number(*text, keys_.version()) : 0;
    if (pending_) pending_->version_base = v;
    return v;
}

std::uint64_t EtcdStore::bump_version() {
    std::lock_guard lock(mutex_);
    if (!pending_) {
        std::uint64_t out = 0;
        transaction([&] { out = bump_version(); });
        return out;
    }
    version();  // reads (and records) the version key once per transaction
    ++pending_->bumps;
    const std::uint64_t next = *pending_->version_base + pending_->bumps;
    pending_->writes[keys_.version()] = std::to_string(next);
    return next;
}

void EtcdStore::put_token(const TokenRecord& token) {
    put(keys_.token(token.id), encode_token(token));
}

std::optional<TokenRecord> EtcdStore::token(const std::string& id) {
    if (id.empty() || id.find('/') != std::string::npos) return std::nullopt;
    auto bytes = get(keys_.token(id));
    if (!bytes) return std::nullopt;
    return decode_token(*bytes, keys_.token(id));
}

std::vector<TokenRecord> EtcdStore::tokens() {
    std::vector<TokenRecord> out;
    for (const auto& [key, value] : list(keys_.dir("tokens/")))
        out.push_back(decode_token(value, key));
    return out;
}

void EtcdStore::put_node(const NodeRecord& node) {
    put(keys_.node(node.id), encode_node(node));
}

std::optional<NodeRecord> EtcdStore::node(const std::string& id) {
    if (id.empty() || id.find('/') != std::string::npos) return std::nullopt;
    auto bytes = get(keys_.node(id));
    if (!bytes) return std::nullopt;
    return decode_node(*bytes, keys_.node(id));
}

// The registry answers lookups from its map; these serve tools (migrate, tests), by a scan.
std::optional<NodeRecord> EtcdStore::node_matching(
    const std::function<bool(const NodeRecord&)>& match) {
    for (auto& n : nodes()) {
        if (match(n)) return n;
    }
    return std::nullopt;
}

std::optional<NodeRecord> EtcdStore::node_by_machine_key(const Key& key) {
    return node_matching([&](const NodeRecord& n) { return n.machine_key == key; });
}

std::optional<NodeRecord> EtcdStore::node_by_wireguard_key(const Key& key) {
    return node_matching([&](const NodeRecord& n) { return n.wireguard_key == key; });
}

std::optional<NodeRecord> EtcdStore::node_by_hostname(const std::string& hostname) {
    return node_matching([&](const NodeRecord& n) { return n.hostname == hostname; });
}

std::vector<NodeRecord> EtcdStore::nodes() {
    std::vector<NodeRecord> out;
    for (const auto& [key, value] : list(keys_.dir("nodes/")))
        out.push_back(decode_node(value, key));
    return out;
}

void EtcdStore::touch_node(const std::string& id, std::int64_t last_seen) {
    put(keys_.seen(id), std::to_string(std::max<std::int64_t>(last_seen, 0)));
}

void EtcdStore::remove_node(const std::string& id, std::uint64_t version) {
    std::lock_guard lock(mutex_);
    transaction([&] {
        erase(keys_.node(id));
        erase(keys_.seen(id));
        put(keys_.removed(id), std::to_string(version));
    });
}

std::vector<Removal> EtcdStore::removals() {
    std::vector<Removal> out;
    for (const auto& [key, value] : list(keys_.dir("removed/"))) {
        out.push_back({keys_.parse(key).name, decode_number(value, key)});
    }
    return out;
}

void EtcdStore::put_container_hold(const ContainerHold& hold) {
    put(keys_.hold(hold.prefix), encode_hold(hold));
}

void EtcdStore::remove_container_hold(const IpPrefix& prefix) {
    erase(keys_.hold(prefix));
}

std::vector<ContainerHold> EtcdStore::container_holds() {
    std::vector<ContainerHold> out;
    for (const auto& [key, value] : list(keys_.dir("holds/")))
        out.push_back(decode_hold(value, key));
    return out;
}

}  // namespace mesh::coord
