#include "coordinator/fanout/rate_limits.hpp"

#include <algorithm>

namespace mesh::coord {

bool TokenBucket::take(Clock::time_point now) {
    if (last_ != Clock::time_point{} && now > last_) {
        tokens_ =
            std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    }
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

void EndpointCoalescer::report(const std::string& node_id, CandidateReport report,
                               Clock::time_point) {
    auto& pending = pending_[node_id];
    if (!report.relay_given && pending.relay_given) {
        report.relay_given = true;
        report.relay = pending.relay;
    }
    pending = std::move(report);
}

void EndpointCoalescer::restore(const std::string& node_id, CandidateReport report) {
    pending_.try_emplace(node_id, std::move(report));
}

std::vector<std::pair<std::string, CandidateReport>> EndpointCoalescer::take_due(
    Clock::time_point now) {
    std::vector<std::pair<std::string, CandidateReport>> out;
    for (auto it = pending_.begin(); it != pending_.end();) {
        auto written = written_.find(it->first);
        const bool bypass = relay_bypass(it->first, it->second, now);
        if (!bypass && written != written_.end() && now - written->second < interval_) {
            ++it;
            continue;
        }
        if (bypass) relay_bypassed_[it->first] = now;
        if (it->second.relay_given) relay_written_[it->first] = it->second.relay;
        written_[it->first] = now;
        out.emplace_back(it->first, std::move(it->second));
        it = pending_.erase(it);
    }
    // Nodes written long ago need no entry: their next report is due at once anyway.
    std::erase_if(written_, [&](const auto& w) {
        return now - w.second >= interval_ && !pending_.contains(w.first);
    });
    return out;
}

bool EndpointCoalescer::relay_bypass(const std::string& node_id, const CandidateReport& report,
                                     Clock::time_point now) const {
    if (!report.relay_given) return false;
    auto value = relay_written_.find(node_id);
    if (value != relay_written_.end() && value->second == report.relay) return false;
    if (value == relay_written_.end() && !report.relay) return false;  // none, as before
    auto last = relay_bypassed_.find(node_id);
    return last == relay_bypassed_.end() || now - last->second >= interval_;
}

std::optional<EndpointCoalescer::Clock::time_point> EndpointCoalescer::next_due() const {
    std::optional<Clock::time_point> due;
    const auto now = Clock::now();
    for (const auto& [id, report] : pending_) {
        if (relay_bypass(id, report, now)) return now;
        auto written = written_.find(id);
        auto at = written == written_.end() ? Clock::time_point{} : written->second + interval_;
        if (!due || at < *due) due = at;
    }
    return due;
}

void EndpointCoalescer::forget(const std::string& node_id) {
    pending_.erase(node_id);
    written_.erase(node_id);
    relay_written_.erase(node_id);
    relay_bypassed_.erase(node_id);
}

}  // namespace mesh::coord
