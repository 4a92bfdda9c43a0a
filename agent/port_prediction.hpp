#pragma once
// Port prediction towards a peer behind an endpoint-dependent NAT (issue 13, "one hard side").
// Such a NAT gives the peer's probes to this host a new public port; when it hands ports out in
// order (a sequential allocator), that port lies a little above the mapping its STUN answers
// showed (the one it reported as its reflexive candidate). Probing that range from this host's
// WireGuard port opens this side's NAT to it, and the probe that hits the right port reaches
// the peer through its own mapping: the peer answers, and the pair has a direct path. A random
// allocator (masquerade random / fully-random) puts the port anywhere in ~64,000: the budget
// below finds it about once in 250 campaigns, so the pair stays relayed.
//
// Pure: which endpoints to probe when. A campaign probes `ports` ports around the base (the
// ones above it first, then `below` under it: a flow that started just before the STUN answers
// took a lower port), round again, at `per_second`, for `campaign`; then it waits
// `first_backoff`, doubling up to `max_backoff`, before the next.
#include <chrono>
#include <cstdint>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::agent {

struct SprayConfig {
    int ports = 256;
    int below = 16;  // of them, under the base
    int per_second = 100;
    std::chrono::milliseconds campaign{10000};
    std::chrono::milliseconds first_backoff{30000};
    std::chrono::milliseconds max_backoff{600000};
};

class PortSpray {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;
    // The peer's reported NAT mapping; the first campaign starts at `now`.
    PortSpray(kb::Endpoint base, SprayConfig config, TimePoint now);

    const kb::Endpoint& base() const { return base_; }
    // The endpoints to probe now (at most what the rate allows since the last call).
    std::vector<kb::Endpoint> due(TimePoint now);
    TimePoint next_due() const;
    int campaigns() const { return campaigns_; }  // started so far
    int sent() const { return sent_total_; }

  private:
    kb::Endpoint base_;
    SprayConfig config_;
    std::vector<std::uint16_t> ports_;  // the sweep, in order (only ports that exist: 1..65535)
    TimePoint campaign_start_{};
    TimePoint campaign_end_{};
    TimePoint next_campaign_{};
    std::chrono::milliseconds backoff_;
    int sent_in_campaign_ = 0;
    int sent_total_ = 0;
    int campaigns_ = 0;
    bool in_campaign_ = false;
};

}  // namespace mesh::agent
