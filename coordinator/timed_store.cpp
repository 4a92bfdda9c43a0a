#include "coordinator/timed_store.hpp"

#include <type_traits>

#include "coordinator/status_error.hpp"

namespace mesh::coord {

template <class F>
auto TimedStore::timed(StoreOp op, F&& f) -> decltype(f()) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto done = [&](std::optional<bool> available) {
        metrics_.store_latency(op, clock::now() - start);
        if (available) health_.report(*available);
    };
    try {
        if constexpr (std::is_void_v<decltype(f())>) {
            f();
            done(true);
        } else {
            auto result = f();
            done(true);
            return result;
        }
    } catch (const StoreConflict&) {
        done(true);  // the store answered: another writer came first
        throw;
    } catch (const StatusError& e) {
        done(e.code() == Code::unavailable ? std::optional<bool>(false) : std::nullopt);
        throw;
    } catch (...) {
        done(std::nullopt);
        throw;
    }
}

void TimedStore::transaction(const std::function<void()>& fn) {
    timed(StoreOp::transaction, [&] { inner_.transaction(fn); });
}
StoreSnapshot TimedStore::load() {
    return timed(StoreOp::read, [&] { return inner_.load(); });
}
std::optional<std::string> TimedStore::meta(const std::string& key) {
    return timed(StoreOp::read, [&] { return inner_.meta(key); });
}
void TimedStore::set_meta(const std::string& key, const std::string& value) {
    timed(StoreOp::write, [&] { inner_.set_meta(key, value); });
}
void TimedStore::ping() {
    timed(StoreOp::read, [&] { inner_.ping(); });
}
std::uint64_t TimedStore::version() {
    return timed(StoreOp::read, [&] { return inner_.version(); });
}
std::uint64_t TimedStore::bump_version() {
    return timed(StoreOp::write, [&] { return inner_.bump_version(); });
}
void TimedStore::put_token(const TokenRecord& token) {
    timed(StoreOp::write, [&] { inner_.put_token(token); });
}
std::optional<TokenRecord> TimedStore::token(const std::string& id) {
    return timed(StoreOp::read, [&] { return inner_.token(id); });
}
std::vector<TokenRecord> TimedStore::tokens() {
    return timed(StoreOp::read, [&] { return inner_.tokens(); });
}
void TimedStore::put_node(const NodeRecord& node) {
    timed(StoreOp::write, [&] { inner_.put_node(node); });
}
std::optional<NodeRecord> TimedStore::node(const std::string& id) {
    return timed(StoreOp::read, [&] { return inner_.node(id); });
}
std::optional<NodeRecord> TimedStore::node_by_machine_key(const Key& key) {
    return timed(StoreOp::read, [&] { return inner_.node_by_machine_key(key); });
}
std::optional<NodeRecord> TimedStore::node_by_wireguard_key(const Key& key) {
    return timed(StoreOp::read, [&] { return inner_.node_by_wireguard_key(key); });
}
std::optional<NodeRecord> TimedStore::node_by_hostname(const std::string& hostname) {
    return timed(StoreOp::read, [&] { return inner_.node_by_hostname(hostname); });
}
std::vector<NodeRecord> TimedStore::nodes() {
    return timed(StoreOp::read, [&] { return inner_.nodes(); });
}
void TimedStore::touch_node(const std::string& id, std::int64_t last_seen) {
    timed(StoreOp::write, [&] { inner_.touch_node(id, last_seen); });
}
void TimedStore::remove_node(const std::string& id, std::uint64_t version) {
    timed(StoreOp::write, [&] { inner_.remove_node(id, version); });
}
std::vector<Removal> TimedStore::removals() {
    return timed(StoreOp::read, [&] { return inner_.removals(); });
}
void TimedStore::put_container_hold(const ContainerHold& hold) {
    timed(StoreOp::write, [&] { inner_.put_container_hold(hold); });
}
void TimedStore::remove_container_hold(const IpPrefix& prefix) {
    timed(StoreOp::write, [&] { inner_.remove_container_hold(prefix); });
}
std::vector<ContainerHold> TimedStore::container_holds() {
    return timed(StoreOp::read, [&] { return inner_.container_holds(); });
}

}  // namespace mesh::coord
