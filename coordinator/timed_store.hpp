#pragma once
// A Store that times every operation of the store it wraps (SQLite or etcd alike) into the
// coordinator's metrics, by kind (read, write, transaction), and tells StoreHealth whether the
// store answered: an operation that succeeds says it is available, one that fails with
// UNAVAILABLE that it is not (a transaction's own refusals, such as a bad token thrown by the
// function it runs, say nothing). Adds two clock reads per operation; otherwise a pass-through.
#include "coordinator/coordinator_metrics.hpp"
#include "coordinator/store.hpp"
#include "coordinator/store_health.hpp"

namespace mesh::coord {

class TimedStore final : public Store {
  public:
    TimedStore(Store& inner, CoordinatorMetrics& metrics, StoreHealth& health)
        : inner_(inner), metrics_(metrics), health_(health) {}

    void transaction(const std::function<void()>& fn) override;
    bool shared() const override { return inner_.shared(); }
    StoreSnapshot load() override;
    std::optional<std::string> meta(const std::string& key) override;
    void set_meta(const std::string& key, const std::string& value) override;
    std::uint64_t version() override;
    void ping() override;
    std::uint64_t bump_version() override;
    void put_token(const TokenRecord& token) override;
    std::optional<TokenRecord> token(const std::string& id) override;
    std::vector<TokenRecord> tokens() override;
    void put_node(const NodeRecord& node) override;
    std::optional<NodeRecord> node(const std::string& id) override;
    std::optional<NodeRecord> node_by_machine_key(const Key& key) override;
    std::optional<NodeRecord> node_by_wireguard_key(const Key& key) override;
    std::optional<NodeRecord> node_by_hostname(const std::string& hostname) override;
    std::vector<NodeRecord> nodes() override;
    void touch_node(const std::string& id, std::int64_t last_seen) override;
    void remove_node(const std::string& id, std::uint64_t version) override;
    std::vector<Removal> removals() override;
    void put_container_hold(const ContainerHold& hold) override;
    void remove_container_hold(const IpPrefix& prefix) override;
    std::vector<ContainerHold> container_holds() override;

  private:
    template <class F>
    auto timed(StoreOp op, F&& f) -> decltype(f());

    Store& inner_;
    CoordinatorMetrics& metrics_;
    StoreHealth& health_;
};

}  // namespace mesh::coord
