#include "agent/coordinator_rotation.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

namespace mesh::agent {

namespace {

// An index in [0, n) from a number in [0, 1); clamped, so a source that returns 1 is harmless.
std::size_t pick(double r, std::size_t n) {
    auto i = static_cast<std::size_t>(r * static_cast<double>(n));
    return std::min(i, n - 1);
}

}  // namespace

std::vector<std::size_t> replica_order(std::size_t count, std::optional<std::size_t> first,
                                       const Backoff::Random& random) {
    std::vector<std::size_t> order(count);
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[pick(random(), i)]);
    if (first && *first < count) {
        auto it = std::find(order.begin(), order.end(), *first);
        std::iter_swap(order.begin(), it);
    }
    return order;
}

CoordinatorRotation::CoordinatorRotation(std::vector<std::size_t> order, FailoverTiming timing,
                                         Backoff::Random random)
    : order_(std::move(order)),
      timing_(timing),
      random_(std::move(random)),
      backoff_(timing.backoff_initial, timing.backoff_max, random_) {
    if (order_.empty()) order_.push_back(0);
}

std::chrono::milliseconds CoordinatorRotation::quick() {
    auto span = std::max<long>(0, (timing_.quick_max - timing_.quick_min).count());
    return timing_.quick_min +
           std::chrono::milliseconds(static_cast<long>(static_cast<double>(span) * random_()));
}

CoordinatorRotation::Step CoordinatorRotation::failed(bool established) {
    if (established) {
        backoff_.reset();
        in_pass_ = 0;
        failures_ = 0;
    }
    ++failures_;
    const std::size_t failed_replica = current();
    position_ = (position_ + 1) % order_.size();
    std::chrono::milliseconds delay;
    if (++in_pass_ >= order_.size()) {  // every replica failed since the pass began
        in_pass_ = 0;
        delay = backoff_.next();
    } else {
        delay = quick();
    }
    return {current(), delay, current() != failed_replica};
}

CoordinatorRotation::Step CoordinatorRotation::again() {
    backoff_.reset();
    in_pass_ = 0;
    failures_ = 0;
    return {current(), backoff_.next(), false};
}

}  // namespace mesh::agent
