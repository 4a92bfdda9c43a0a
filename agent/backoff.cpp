#include "agent/backoff.hpp"

#include <sodium.h>

#include <algorithm>

namespace mesh::agent {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, Random random)
    : initial_(initial), max_(max), current_(initial), random_(std::move(random)) {}

std::chrono::milliseconds Backoff::next() {
    auto d = current_;
    current_ = std::min(max_, current_ * 2);
    ++attempts_;
    double r = random_();
    return std::chrono::milliseconds(
        static_cast<long>(static_cast<double>(d.count()) * (0.5 + 0.5 * r)));
}

void Backoff::reset() {
    current_ = initial_;
    attempts_ = 0;
}

Backoff::Random system_random() {
    return [] { return randombytes_uniform(1u << 30) / static_cast<double>(1u << 30); };
}

}  // namespace mesh::agent
