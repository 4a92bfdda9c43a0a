#include "agent/port_prediction.hpp"

#include <algorithm>

namespace mesh::agent {

PortSpray::PortSpray(kb::Endpoint base, SprayConfig config, TimePoint now)
    : base_(std::move(base)), config_(config), backoff_(config.first_backoff) {
    const int mapped = base_.port;
    const int below = std::clamp(config_.below, 0, std::max(config_.ports, 0));
    for (int p = mapped + 1; p <= 65535 && p <= mapped + config_.ports - below; ++p) {
        ports_.push_back(static_cast<std::uint16_t>(p));
    }
    for (int p = mapped - 1; p >= 1 && p >= mapped - below; --p)
        ports_.push_back(static_cast<std::uint16_t>(p));
    next_campaign_ = now;
}

std::vector<kb::Endpoint> PortSpray::due(TimePoint now) {
    std::vector<kb::Endpoint> out;
    if (ports_.empty() || config_.per_second <= 0) return out;
    if (now >= campaign_end_ && now >= next_campaign_) {
        // A new campaign (the first one, or the next after the backoff).
        campaign_start_ = now;
        campaign_end_ = now + config_.campaign;
        next_campaign_ = campaign_end_ + backoff_;
        backoff_ = std::min(backoff_ * 2, config_.max_backoff);
        sent_in_campaign_ = 0;
        ++campaigns_;
        in_campaign_ = true;
    }
    if (now >= campaign_end_) in_campaign_ = false;
    if (!in_campaign_ || now < campaign_start_) return out;
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(now - campaign_start_).count();
    // One probe at the start, then per_second of them a second. A late call sends at most a
    // second's worth and skips the rest (the rate holds, never a burst).
    const std::int64_t allowed = 1 + elapsed * config_.per_second / 1'000'000;
    std::int64_t count = allowed - sent_in_campaign_;
    if (count > config_.per_second) {
        sent_in_campaign_ += static_cast<int>(count - config_.per_second);
        count = config_.per_second;
    }
    for (std::int64_t i = 0; i < count; ++i) {
        kb::Endpoint e = base_;
        e.port = ports_[static_cast<std::size_t>(sent_in_campaign_) % ports_.size()];
        out.push_back(e);
        ++sent_in_campaign_;
        ++sent_total_;
    }
    return out;
}

PortSpray::TimePoint PortSpray::next_due() const {
    if (ports_.empty() || config_.per_second <= 0) return TimePoint::max();
    if (!in_campaign_) return next_campaign_;
    const auto next_send =
        campaign_start_ + std::chrono::microseconds(static_cast<std::int64_t>(sent_in_campaign_) *
                                                    1'000'000 / config_.per_second);
    return std::min(next_send, campaign_end_);  // at its end, due() closes the campaign
}

}  // namespace mesh::agent
