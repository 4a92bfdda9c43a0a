#include "coordinator/migrate.hpp"

#include <fmt/core.h>

#include <filesystem>

#include "coordinator/etcd_store.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/store_url.hpp"
#include "kmod-bridge/dir_lock.hpp"
#include "kmod-bridge/error.hpp"

namespace mesh::coord {

namespace {

// The settings a fleet keeps in meta (server.cpp and registry.cpp write them).
constexpr const char* kMetaKeys[] = {"ipv4_prefix", "ipv6_prefix", "operator_credential"};

// Records per transaction: etcd takes at most 128 operations at once, and a tombstone is three
// (the node and its last_seen deleted, the tombstone put).
constexpr std::size_t kChunk = 40;

template <class T, class Put>
void copy_chunked(Store& to, const std::vector<T>& items, const Put& put) {
    for (std::size_t start = 0; start < items.size(); start += kChunk) {
        const std::size_t end = std::min(items.size(), start + kChunk);
        to.transaction([&] {
            for (std::size_t i = start; i < end; ++i) put(items[i]);
        });
    }
}

}  // namespace

MigrationCounts migrate_store(Store& from, Store& to,
                              const std::function<void(const std::string&)>& progress) {
    if (auto v = to.version(); v != 0) {
        throw Error("the destination holds a fleet already (map version " + std::to_string(v) +
                    "); migrate into an empty store, or another etcd key prefix");
    }
    MigrationCounts counts;
    auto snapshot = from.load();
    auto tokens = from.tokens();
    counts.version = snapshot.version;
    for (const char* key : kMetaKeys) {
        if (auto value = from.meta(key)) {
            to.set_meta(key, *value);
            ++counts.meta;
        }
    }
    copy_chunked(to, tokens, [&](const TokenRecord& t) { to.put_token(t); });
    counts.tokens = tokens.size();
    progress(fmt::format("copied {} tokens", tokens.size()));
    for (std::size_t start = 0; start < snapshot.nodes.size(); start += kChunk) {
        const std::size_t end = std::min(snapshot.nodes.size(), start + kChunk);
        to.transaction([&] {
            for (std::size_t i = start; i < end; ++i) to.put_node(snapshot.nodes[i]);
        });
        counts.nodes = end;
        if (end == snapshot.nodes.size() || (end / kChunk) % 16 == 0) {
            progress(fmt::format("copied {} of {} nodes", end, snapshot.nodes.size()));
        }
    }
    copy_chunked(to, snapshot.removals, [&](const Removal& r) { to.remove_node(r.id, r.version); });
    counts.removals = snapshot.removals.size();
    copy_chunked(to, snapshot.holds, [&](const ContainerHold& h) { to.put_container_hold(h); });
    counts.holds = snapshot.holds.size();
    // Last: with the version in place the copy is a fleet a coordinator may serve.
    to.transaction([&] {
        while (to.version() < snapshot.version) to.bump_version();
    });
    return counts;
}

int run_migrate(const std::string& from_url, const std::string& to_url) {
    StoreUrl from = parse_store_url(from_url), to = parse_store_url(to_url);
    if (from.kind != StoreUrl::Kind::sqlite || to.kind != StoreUrl::Kind::etcd) {
        throw Error("migrate copies a fleet from sqlite:DIR to etcd://...; got " +
                    from.to_string() + " -> " + to.to_string());
    }
    const std::string db = from.sqlite_dir + "/coordinator.db";
    if (!std::filesystem::exists(db)) {
        throw Error("no coordinator database at " + db + " (give the coordinator's --state-dir)");
    }
    // A coordinator still serving from it would keep changing it after the copy.
    DirLock lock(from.sqlite_dir, "coordinator.lock", "mesh-coordinator",
                 {from.sqlite_dir, "migrate once it has stopped"});
    SqliteStore source(db);
    EtcdClient client(to.endpoints, std::chrono::milliseconds(5000));
    EtcdStore destination(client, to.prefix);
    auto counts = migrate_store(source, destination, [](const std::string& line) {
        fmt::print(stderr, "migrate: {}\n", line);
    });
    fmt::print(
        "migrated {} nodes, {} tokens, {} tombstones, {} container holds and {} settings at map "
        "version {} from {} to {}\n"
        "next: start every replica with --store {} (this one with --state-dir {} to keep its TLS "
        "certificate, which the agents pinned); no host joins again\n",
        counts.nodes, counts.tokens, counts.removals, counts.holds, counts.meta, counts.version,
        from.to_string(), to.to_string(), to.to_string(), from.sqlite_dir);
    return 0;
}

}  // namespace mesh::coord
