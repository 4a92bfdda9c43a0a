#pragma once
// Whether the store answers, as its operations show it: an operation that fails with
// UNAVAILABLE (etcd without a quorum, or unreachable) marks it unavailable, the next one that
// succeeds marks it available again. A listener hears each change once (the gRPC health
// service: NOT_SERVING while the store is unavailable). Thread-safe; the state is one atomic,
// read on every store operation without a lock.
#include <atomic>
#include <functional>
#include <mutex>

#include "kmod-bridge/metrics_text.hpp"

namespace mesh::coord {

class StoreHealth {
  public:
    using Listener = std::function<void(bool available)>;

    // The store answered (ok) or could not (false).
    void report(bool available);
    bool available() const { return available_.load(std::memory_order_relaxed); }
    // Calls `listener` with the state now and on every change after; null: none. Returns once
    // no call of the previous listener is running (it can be destroyed then).
    void set_listener(Listener listener);
    // How many times the store became unavailable.
    std::uint64_t outages() const { return outages_.load(std::memory_order_relaxed); }

  private:
    std::atomic<bool> available_{true};
    std::atomic<std::uint64_t> outages_{0};
    std::mutex mutex_;  // serializes changes and the listener's calls, in order
    Listener listener_;
};

// mesh_coordinator_store_available (1 or 0) and mesh_coordinator_store_outages_total.
std::vector<metrics::Family> store_health_families(const StoreHealth& health);

}  // namespace mesh::coord
