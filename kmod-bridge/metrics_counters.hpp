#pragma once
// Counters and histograms a daemon updates on its hot paths and renders at scrape time into
// metrics::Family (kmod-bridge/metrics_text.hpp). Lock-free: an update is one or a few relaxed
// atomic additions, so thousands of streams can count without sharing a lock. Pure (no I/O).
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kmod-bridge/metrics_text.hpp"

namespace mesh::metrics {

// A monotonically increasing count.
class Counter {
  public:
    void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> value_{0};
};

// Counters under one label whose values are fixed at construction (a bounded set: a scrape
// shows every value, 0 included). Values are addressed by index, in the order given.
class LabeledCounter {
  public:
    LabeledCounter(std::string label, std::vector<std::string> values);
    // Throws std::out_of_range for an index not below the number of values.
    void add(std::size_t index, std::uint64_t n = 1);
    std::uint64_t value(std::size_t index) const;
    // Every value's sample, in the order given at construction.
    std::vector<Sample> samples() const;

  private:
    std::string label_;
    std::vector<std::string> values_;
    std::unique_ptr<Counter[]> counters_;
};

// A histogram with fixed upper bounds (ascending, each bucket "<= bound"). An observation
// lands in one bucket; snapshot() makes them cumulative as Prometheus wants, with the count
// equal to the +Inf bucket even while others observe concurrently.
class Histogram {
  public:
    // Throws std::invalid_argument for no bounds or bounds not strictly ascending.
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);
    HistogramSample snapshot(Labels labels = {}) const;
    const std::vector<double>& bounds() const { return bounds_; }

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last: +Inf)
    std::atomic<double> sum_{0};
};

// Latency bounds in seconds from 1 ms to 10 s: 1, 2.5, 5 per decade.
std::vector<double> latency_bounds_1ms_10s();

}  // namespace mesh::metrics
