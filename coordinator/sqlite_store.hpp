#pragma once
// The embedded default store: one SQLite file in WAL mode with synchronous commits.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "coordinator/store.hpp"

struct sqlite3;

namespace mesh::coord {

class SqliteStore final : public Store {
  public:
    // Opens (creating if needed) the database at path. Throws mesh::Error naming the path.
    explicit SqliteStore(const std::string& path);
    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    void transaction(const std::function<void()>& fn) override;
    StoreSnapshot load() override;
    std::optional<std::string> meta(const std::string& key) override;
    void set_meta(const std::string& key, const std::string& value) override;
    std::uint64_t version() override;
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
    class Statement;
    class Query;
    Statement& statement(const char* sql);  // prepared once, reset for this use
    void exec(const char* sql);
    void migrate();
    std::optional<NodeRecord> node_where(const char* column, const void* value, int size);

    std::string path_;
    sqlite3* db_ = nullptr;
    std::map<const char*, std::unique_ptr<Statement>> statements_;  // by the SQL literal
    std::recursive_mutex mutex_;
    int depth_ = 0;  // transaction nesting, guarded by mutex_  // recursive: methods are called
                     // inside transaction()
};

}  // namespace mesh::coord
