#pragma once
// The store shared by several coordinator replicas: etcd, through its v3 API (layout in
// coordinator/etcd_records.hpp). A transaction reads through to etcd and records the revision
// of every key it read; its writes are held back and committed in one etcd Txn that succeeds
// only if none of those keys changed meanwhile (optimistic concurrency, as etcd's own STM).
// Every map change reads and moves the version key, so map changes are one global sequence
// whichever replica makes them; a token is consumed and its node created in one Txn; a replica
// whose map was behind the store gets StoreConflict instead of handing out an address twice.
// A replica that cannot reach etcd commits nothing: its writes fail with UNAVAILABLE.
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "coordinator/etcd_client.hpp"
#include "coordinator/etcd_records.hpp"
#include "coordinator/store.hpp"

namespace mesh::coord {

class EtcdStore final : public Store {
  public:
    EtcdStore(EtcdClient& client, std::string prefix);

    void transaction(const std::function<void()>& fn) override;
    bool shared() const override { return true; }
    StoreSnapshot load() override;
    std::optional<std::string> meta(const std::string& key) override;
    void set_meta(const std::string& key, const std::string& value) override;
    std::uint64_t version() override;
    void ping() override;  // etcd's client alone, without the store's lock
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

    EtcdClient& client() { return client_; }
    const EtcdKeys& keys() const { return keys_; }

  private:
    struct Pending {
        std::map<std::string, std::int64_t> reads;  // key -> mod revision when read (0: absent)
        std::map<std::string, std::optional<std::string>> writes;  // nullopt: delete
        std::optional<std::uint64_t> version_base;
        std::uint64_t bumps = 0;
    };
    std::optional<std::string> get(const std::string& key);
    void put(const std::string& key, std::string value);
    void erase(const std::string& key);
    std::vector<std::pair<std::string, std::string>> list(const std::string& dir);
    void commit(const Pending& pending);
    std::optional<NodeRecord> node_matching(const std::function<bool(const NodeRecord&)>& match);

    EtcdClient& client_;
    EtcdKeys keys_;
    std::recursive_mutex mutex_;      // held for a whole transaction
    std::optional<Pending> pending_;  // the transaction in progress, under mutex_
};

}  // namespace mesh::coord
