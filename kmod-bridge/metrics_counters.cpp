#include "kmod-bridge/metrics_counters.hpp"

#include <algorithm>
#include <stdexcept>

namespace mesh::metrics {

LabeledCounter::LabeledCounter(std::string label, std::vector<std::string> values)
    : label_(std::move(label)),
      values_(std::move(values)),
      counters_(std::make_unique<Counter[]>(values_.size())) {
    check_name(label_, true);
}

void LabeledCounter::add(std::size_t index, std::uint64_t n) {
    if (index >= values_.size()) {
        throw std::out_of_range("no value #" + std::to_string(index) + " for label " + label_);
    }
    counters_[index].add(n);
}

std::uint64_t LabeledCounter::value(std::size_t index) const {
    if (index >= values_.size()) {
        throw std::out_of_range("no value #" + std::to_string(index) + " for label " + label_);
    }
    return counters_[index].value();
}

std::vector<Sample> LabeledCounter::samples() const {
    std::vector<Sample> out;
    out.reserve(values_.size());
    for (std::size_t i = 0; i < values_.size(); ++i) {
        out.push_back({{{label_, values_[i]}}, static_cast<double>(counters_[i].value())});
    }
    return out;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
    if (bounds_.empty()) throw std::invalid_argument("a histogram needs at least one bound");
    for (std::size_t i = 1; i < bounds_.size(); ++i) {
        if (!(bounds_[i - 1] < bounds_[i])) {
            throw std::invalid_argument("histogram bounds must be strictly ascending");
        }
    }
    buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double value) {
    // The first bound not below the value: "le" is inclusive. NaN lands in +Inf.
    const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
    const auto index = static_cast<std::size_t>(it - bounds_.begin());
    buckets_[index].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSample Histogram::snapshot(Labels labels) const {
    HistogramSample out;
    out.labels = std::move(labels);
    out.bounds = bounds_;
    out.counts.reserve(bounds_.size());
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        running += buckets_[i].load(std::memory_order_relaxed);
        out.counts.push_back(running);
    }
    out.count = running + buckets_[bounds_.size()].load(std::memory_order_relaxed);
    out.sum = sum_.load(std::memory_order_relaxed);
    return out;
}

std::vector<double> latency_bounds_1ms_10s() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace mesh::metrics
