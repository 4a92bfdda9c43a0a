#include "coordinator/store_health.hpp"

namespace mesh::coord {

void StoreHealth::report(bool available) {
    if (available_.load(std::memory_order_relaxed) == available) return;  // the common case
    std::lock_guard lock(mutex_);
    if (available_.exchange(available) == available) return;  // another report won
    if (!available) outages_.fetch_add(1, std::memory_order_relaxed);
    if (listener_) listener_(available);
}

void StoreHealth::set_listener(Listener listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
    if (listener_) listener_(available_.load());
}

std::vector<metrics::Family> store_health_families(const StoreHealth& health) {
    using metrics::Family;
    return {Family{"mesh_coordinator_store_available",
                   "1 while the store answers, 0 while its operations fail as unavailable",
                   Family::Type::gauge,
                   {{{}, health.available() ? 1.0 : 0.0}},
                   {}},
            Family{"mesh_coordinator_store_outages_total",
                   "Times the store became unavailable",
                   Family::Type::counter,
                   {{{}, static_cast<double>(health.outages())}},
                   {}}};
}

}  // namespace mesh::coord
