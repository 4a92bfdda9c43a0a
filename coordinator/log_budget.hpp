#pragma once
// How many lines of one kind a single node may put into the log: a token bucket (a burst, then a
// steady rate), so one node reporting thousands of events a second costs a few lines, and the
// line that follows a quiet spell says how many were left out. Pure: the time comes in.
#include <cstdint>
#include <map>
#include <string>

namespace mesh::coord {

class LogBudget {
  public:
    // burst: lines allowed at once; refill_seconds: one more line per this many seconds.
    LogBudget(std::uint32_t burst, std::uint32_t refill_seconds)
        : burst_(burst), refill_seconds_(refill_seconds) {}

    // True when the node may log one more line at `now` (unix seconds). `suppressed` receives
    // how many of its lines were refused since its last allowed one.
    bool allow(const std::string& node_id, std::int64_t now, std::uint64_t& suppressed);
    void forget(const std::string& node_id) { nodes_.erase(node_id); }

  private:
    struct Bucket {
        std::uint32_t tokens = 0;
        std::int64_t refilled_at = 0;
        std::uint64_t suppressed = 0;
    };
    std::uint32_t burst_;
    std::uint32_t refill_seconds_;
    std::map<std::string, Bucket> nodes_;
};

}  // namespace mesh::coord
