#pragma once
// `mesh-coordinator migrate --from sqlite:DIR --to etcd://...`: copies a fleet from one store to
// another as it is (node ids, keys, addresses, versions, tombstones, tokens and their uses,
// container holds, the fixed prefixes and the operator credential), so a coordinator started
// on the new store with the same TLS identity serves the same agents and none of them joins
// again. The map version is written last: a copy cut short is no fleet yet, and running the
// command again finishes it.
#include <functional>
#include <string>

#include "coordinator/store.hpp"

namespace mesh::coord {

struct MigrationCounts {
    std::size_t nodes = 0, tokens = 0, removals = 0, holds = 0, meta = 0;
    std::uint64_t version = 0;
};

// Throws mesh::Error when `to` holds a fleet already (a version), naming it.
MigrationCounts migrate_store(Store& from, Store& to,
                              const std::function<void(const std::string&)>& progress);

// The command: opens both (the source must not be in use by a running coordinator).
int run_migrate(const std::string& from_url, const std::string& to_url);

}  // namespace mesh::coord
