#pragma once
// Which coordinator replica the agent talks to next, and how long it waits first. Each agent walks
// the replicas in an order of its own (random: the agents of a replica that died spread over the
// others instead of all landing on the next one). A stream that broke after it was up moves on
// after a short jitter (the replica is likely gone, the others likely fine: a kill -9 costs well
// under a second); failures within a pass over the list move on after the same jitter; only a
// whole pass that failed backs off, exponentially and jittered (Backoff). With one replica that
// is exactly the old reconnect: every failure is a whole pass. Pure: the random numbers come in.
#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "agent/backoff.hpp"

namespace mesh::agent {

struct FailoverTiming {
    // The wait before the next replica within a pass, uniform in [quick_min, quick_max]: spread
    // enough that a replica's agents do not reach the next one in the same millisecond.
    std::chrono::milliseconds quick_min{50};
    std::chrono::milliseconds quick_max{300};
    // After a whole pass failed: d doubling from backoff_initial to backoff_max, drawn in
    // [d/2, d] (the reconnect backoff of a single coordinator).
    std::chrono::milliseconds backoff_initial{250};
    std::chrono::milliseconds backoff_max{15000};
};

// A random order of the indices 0..count-1, starting with `first` when given (and < count).
std::vector<std::size_t> replica_order(std::size_t count, std::optional<std::size_t> first,
                                       const Backoff::Random& random);

class CoordinatorRotation {
  public:
    // order: indices into the coordinator list, as replica_order makes them; not empty.
    CoordinatorRotation(std::vector<std::size_t> order, FailoverTiming timing,
                        Backoff::Random random);

    std::size_t current() const { return order_[position_]; }
    int failures() const { return failures_; }  // in a row since a stream was last up

    struct Step {
        std::size_t replica;              // the one to try next
        std::chrono::milliseconds delay;  // after waiting this long
        bool moved;                       // another replica than the one that failed
    };
    // The stream on current() ended or could not be opened. established: it had been up (the
    // coordinator answered the hello), which starts a fresh pass.
    Step failed(bool established);
    // The stream on current() was dropped on purpose (the map went out of step) after it was up:
    // the same replica again, after the first backoff step.
    Step again();

  private:
    std::chrono::milliseconds quick();

    std::vector<std::size_t> order_;
    FailoverTiming timing_;
    Backoff::Random random_;
    Backoff backoff_;
    std::size_t position_ = 0;
    std::size_t in_pass_ = 0;  // failures in the pass under way
    int failures_ = 0;
};

}  // namespace mesh::agent
