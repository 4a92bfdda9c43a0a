#pragma once
// This host's NAT mapping of the WireGuard port, learned by STUN from that port: one query round
// asks every server (the coordinator answers on two ports, so a mapping that differs per
// destination shows up as two different answers), retransmitting until each answered or the
// round timed out; rounds repeat every refresh interval and at once when asked (network change,
// a path check that went unanswered). Pure: time in, requests out.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "agent/path_finder.hpp"

namespace mesh::agent {

enum class NatType { unknown, none, endpoint_independent, endpoint_dependent };
const char* nat_type_name(NatType type);  // "unknown", "none", "endpoint-independent", ...

struct StunConfig {
    milliseconds refresh{10000};
    milliseconds round_timeout{3000};
};

struct StunRequest {
    Endpoint to;
    kb::stun::TransactionId transaction;
};

class StunDiscovery {
  public:
    StunDiscovery(StunConfig config, PathFinder::RandomTransaction random);

    // The servers to ask; empty turns discovery off. A changed list starts a round.
    void set_servers(std::vector<Endpoint> servers, TimePoint now);
    bool has_servers() const { return !servers_.empty(); }
    std::vector<Endpoint> servers() const;
    // The last round ended with no answer from any server; false before the servers' first
    // round ended. The agent asks another coordinator replica's responder then.
    bool silent() const { return silent_; }
    void refresh(TimePoint now);  // start a round now unless one is running
    void restart(TimePoint now);  // start a round now, dropping a running one (network changed)
    // A STUN answer that came from `from`. False when it matches no outstanding request.
    bool answered(const kb::stun::TransactionId& transaction, const Endpoint& from,
                  const Endpoint& mapped, TimePoint now);
    std::vector<StunRequest> due(TimePoint now);
    TimePoint next_due() const;

    std::optional<Endpoint> reflexive() const { return reflexive_; }
    // Given the host's own endpoints (its addresses with the WireGuard port).
    NatType nat_type(const std::vector<Endpoint>& host) const;
    bool take_changed();  // the reflexive address or the NAT type changed since the last call

  private:
    void finish_round();
    struct Server {
        Endpoint endpoint;
        std::optional<Endpoint> mapped;  // this round's answer
        TimePoint next_send{};
        milliseconds backoff{100};
    };

    StunConfig config_;
    PathFinder::RandomTransaction random_;
    std::vector<Server> servers_;
    std::map<kb::stun::TransactionId, std::size_t> outstanding_;  // -> server index
    bool round_running_ = false;
    TimePoint round_start_{};
    TimePoint next_round_{};
    std::optional<Endpoint> reflexive_;
    bool mappings_differ_ = false;
    bool both_answered_ = false;
    bool restarted_ = false;  // this round was started by a network change
    bool silent_ = false;
    bool changed_ = false;
};

}  // namespace mesh::agent
