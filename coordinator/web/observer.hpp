#pragma once
// The coordinator's metrics listener (--metrics-listen): /metrics (Prometheus text: the fleet's
// gauges, the coordinator's counters and histograms, the store's health), / (the
// fleet page) and /api/fleet (its JSON, the schema of `nodes list --json`). Off a loopback
// address every path needs HTTP Basic auth with the operator credential as password.
#include <memory>
#include <string>

#include "kmod-bridge/daemon/http_listener.hpp"

namespace mesh::coord {

class AdminService;
class CoordinatorMetrics;
class Registry;
class StoreHealth;

// What /metrics shows besides the fleet's gauges: the counters and the store's health. Both
// outlive the listener.
struct ObservedCounters {
    const CoordinatorMetrics& metrics;
    const StoreHealth& health;
};

// nullptr when `listen` is empty (off). Throws when it cannot listen.
std::unique_ptr<web::HttpListener> start_observer(const std::string& listen, AdminService& admin,
                                                  Registry& registry, ObservedCounters counters);

}  // namespace mesh::coord
