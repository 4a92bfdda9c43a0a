#include "coordinator/store_probe.hpp"

#include <spdlog/spdlog.h>

#include <utility>

namespace mesh::coord {

StoreHealth::Listener serving_status_follows(grpc::HealthCheckServiceInterface* health,
                                             std::string store_label) {
    return [health, store_label = std::move(store_label), first = true](bool available) mutable {
        if (health) health->SetServingStatus(available);
        if (std::exchange(first, false)) return;  // the state at start: nothing changed
        if (available) {
            spdlog::info("event=store_available store={} health=SERVING", store_label);
        } else {
            spdlog::warn("event=store_unavailable store={} health=NOT_SERVING", store_label);
        }
    };
}

void probe_store(Store& store) {
    try {
        store.ping();
    } catch (const std::exception&) {
        // StoreHealth heard it (through the TimedStore); the log line is its listener's.
    }
}

}  // namespace mesh::coord
