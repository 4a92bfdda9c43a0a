#pragma once
// What one node may send us (security review, findings 4 and 8): a token bucket on a stream's
// messages, and endpoint reports coalesced to at most one map change per node per interval.
// Pure: the time comes in.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/model.hpp"

namespace mesh::coord {

// `rate` messages a second on average, `burst` at once.
class TokenBucket {
  public:
    using Clock = std::chrono::steady_clock;
    TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
    bool take(Clock::time_point now);

  private:
    double rate_, burst_, tokens_;
    Clock::time_point last_{};
};

// The latest endpoint list of each node, held until the node's last written report is at least
// `interval` old: a node reporting hundreds of times a second makes one map change per interval,
// carrying its newest list.
class EndpointCoalescer {
  public:
    using Clock = std::chrono::steady_clock;
    explicit EndpointCoalescer(std::chrono::milliseconds interval) : interval_(interval) {}

    // A report without relay_given keeps the relay of one still pending.
    void report(const std::string& node_id, CandidateReport report, Clock::time_point now);
    void report(const std::string& node_id, std::vector<Endpoint> endpoints,
                Clock::time_point now) {
        report(node_id, CandidateReport{std::move(endpoints), false, std::nullopt}, now);
    }
    // The reports whose node may be written now, removed from the pending set, their nodes'
    // write time set to `now`.
    std::vector<std::pair<std::string, CandidateReport>> take_due(Clock::time_point now);
    std::optional<Clock::time_point> next_due() const;
    // A report taken but not written (the store was unreachable): pending again, due one
    // interval after the failed write, unless a newer report of the node came meanwhile.
    void restore(const std::string& node_id, CandidateReport report);
    void forget(const std::string& node_id);
    std::size_t pending() const { return pending_.size(); }

  private:
    std::chrono::milliseconds interval_;
    // A report whose relayed address differs from the last one written goes at once (a relay
    // is what a pair with no direct path waits for), at most once per interval on top of the
    // regular writes: a node still makes at most two map changes per interval.
    bool relay_bypass(const std::string& node_id, const CandidateReport& report,
                      Clock::time_point now) const;

    std::map<std::string, CandidateReport> pending_;
    std::unordered_map<std::string, Clock::time_point> written_;  // the last write per node
    std::unordered_map<std::string, std::optional<Endpoint>> relay_written_;  // its value
    std::unordered_map<std::string, Clock::time_point> relay_bypassed_;       // and when
};

}  // namespace mesh::coord
