#pragma once
// Jittered exponential backoff for reconnecting: each delay is drawn uniformly from
// [d/2, d] where d doubles from `initial` up to `max`, so a fleet that lost its coordinator does
// not come back in lockstep.
#include <chrono>
#include <functional>

namespace mesh::agent {

class Backoff {
  public:
    using Random = std::function<double()>;  // uniform in [0, 1)

    Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, Random random);
    std::chrono::milliseconds next();
    void reset();
    int attempts() const { return attempts_; }

  private:
    std::chrono::milliseconds initial_;
    std::chrono::milliseconds max_;
    std::chrono::milliseconds current_;
    Random random_;
    int attempts_ = 0;
};

Backoff::Random system_random();

}  // namespace mesh::agent
