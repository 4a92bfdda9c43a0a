#pragma once
// Which endpoint each peer is reached at. Every candidate of a peer is probed from the WireGuard
// port (authenticated STUN Binding requests that the peer's agent answers from its own WireGuard
// port, which also opens both NATs' mappings for the pair); the best answering candidate is kept,
// re-checked every check_interval (which keeps the NAT mappings open), and probing starts over
// when it stops answering, when the peer's candidates change, or when this host's network
// changed. Pure: time comes in as arguments, the probes to send go out as return values.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/port_prediction.hpp"
#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/stun.hpp"

namespace mesh::agent {

using kb::Endpoint;
using kb::IpPrefix;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;

// relay: never chosen by probing; the agent sets it for a pair it hands to its TURN relay.
enum class PathKind { probing, lan, nat_direct, none, relay };
const char* path_kind_name(PathKind kind);  // "probing", "lan", "nat-direct", "none", "relay"

struct PathConfig {
    milliseconds check_interval{500};  // probe of the endpoint in use, while the peer is active
    // ... and while it is idle (no WireGuard traffic for active_window): a fleet's thousand idle
    // peers cost a probe each per 25 s (what keepalive costs anyway), not two a second.
    milliseconds idle_check_interval{25000};
    milliseconds active_window{30000};
    milliseconds check_timeout{250};  // a check unanswered by then is a miss, and sent again
    int misses_before_lost = 2;       // unanswered checks in a row before probing starts over
    milliseconds give_up{2000};       // no answer from any candidate by then: PathKind::none
    // then probe all candidates again this often: a relayed pair finds a direct path that
    // appears (a NAT turned endpoint-independent) within about this, at one round of probes a
    // second per such peer
    milliseconds retry_none{1000};
};

struct Probe {
    std::string peer_id;
    Endpoint to;
    kb::stun::TransactionId transaction;
};

// A path straight to the peer (not through a relay).
bool is_direct_kind(PathKind kind);

struct PathSelection {
    std::optional<Endpoint> endpoint;  // to configure; nullopt = none known at all
    PathKind kind = PathKind::probing;
    std::chrono::microseconds rtt{0};
    bool verified = false;  // the endpoint answered a probe since the last network change
    bool given_up = false;  // probing found nothing for give_up: initiate on the fallback
    // The endpoint in use stopped answering its checks and nothing has answered since: the
    // agent falls back to the relay now rather than after give_up (issue 13: within 2 s).
    bool lost = false;
};

class PathFinder {
  public:
    using RandomTransaction = std::function<kb::stun::TransactionId()>;
    PathFinder(PathConfig config, RandomTransaction random);

    // This host's own subnets: an answering candidate inside one of them is a LAN path.
    void set_local_prefixes(std::vector<IpPrefix> prefixes);
    // The map's peers with their candidates (best first as the peer reported them). New peers and
    // peers whose candidates changed are probed at once; peers not listed are forgotten.
    void set_peers(const std::map<std::string, std::vector<Endpoint>>& peers, TimePoint now);
    // This host's addresses or NAT mapping changed: every peer is probed again from scratch.
    void network_changed(TimePoint now);
    // The device reports `endpoint` for the peer, learned from its authenticated packets: it is
    // adopted at once (WireGuard verified it) and probed.
    void observed(const std::string& peer, const Endpoint& endpoint, TimePoint now);
    // The pair's tunnel carried traffic (the device's counters moved): check at the fast rate.
    void activity(const std::string& peer, TimePoint now);
    // An authenticated probe from the peer arrived from `from`: probe back there at once.
    void request_from(const std::string& peer, const Endpoint& from, TimePoint now);
    // The peer is behind an endpoint-dependent NAT whose mapping it reported as `reflexive`
    // (nullopt: it is not, or this host's own NAT is one too): while no direct path answers, the
    // ports above it are probed (port_prediction.hpp); a probe that is answered becomes the
    // peer's path. A changed mapping starts over.
    void predict(const std::string& peer, std::optional<Endpoint> reflexive, TimePoint now);
    // Probes sent to predicted ports so far (all peers), and campaigns started.
    int predicted_probes() const { return predicted_probes_; }
    // The peer a probe with this transaction was sent to, if it is outstanding.
    std::optional<std::string> peer_of(const kb::stun::TransactionId& transaction) const;
    // An authenticated answer to one of our probes. `saw_us_directly`: the peer saw the probe
    // come from one of our own addresses (its XOR-MAPPED-ADDRESS), so nothing translated or
    // relayed it; only such a path to a candidate on our subnet counts as LAN. False when the
    // transaction is unknown.
    bool answered(const kb::stun::TransactionId& transaction, TimePoint now,
                  bool saw_us_directly = true);

    // What an answer from `endpoint` makes of a path: lan when it is on one of our subnets and
    // the peer saw us directly (as answered() judges), nat-direct otherwise.
    PathKind kind_for(const Endpoint& endpoint, bool saw_us_directly) const {
        return saw_us_directly ? kind_of(endpoint) : PathKind::nat_direct;
    }
    std::vector<Probe> due(TimePoint now);  // the probes to send now
    TimePoint next_due() const;             // when due() next has something
    PathSelection selection(const std::string& peer) const;
    std::map<std::string, PathSelection> selections() const;
    bool take_changed();      // any selection's endpoint or kind changed since the last call
    bool take_stun_wanted();  // a check went unanswered: this host's mapping may have moved

  private:
    struct Candidate {
        Endpoint endpoint;
        bool reported = false;  // in the map (else observed from the device or a probe)
        bool direct = true;     // its last answer saw our own address (see answered())
        std::optional<TimePoint> last_ok;
        std::chrono::microseconds rtt{0};
        std::optional<TimePoint> send_now;  // a triggered check is pending
    };
    struct Peer {
        std::vector<Endpoint> reported;
        std::vector<Candidate> candidates;
        std::optional<Endpoint> chosen;
        PathKind kind = PathKind::probing;
        std::chrono::microseconds rtt{0};
        TimePoint burst_start{};
        int burst_round = -1;  // -1 = not bursting; kRounds = waiting for give-up, then slow
        bool slow = false;     // gave up: one round every retry_none
        bool lost = false;     // see PathSelection::lost
        bool burst_from_direct = false;  // the burst under way started on a direct path
        TimePoint next_round{};
        TimePoint next_check{};
        TimePoint check_sent{};
        bool check_outstanding = false;
        int misses = 0;
        TimePoint last_activity{};
        // Bursts a changed candidate list starts come from a small budget that refills slowly;
        // a change when it is spent starts one when the next comes in.
        TimePoint report_burst{};  // when the budget last refilled (or was full)
        int report_budget = 3;
        std::optional<TimePoint> deferred_burst;
        std::optional<PortSpray> spray;  // see predict()
    };
    struct Outstanding {
        std::string peer;
        Endpoint to;
        TimePoint sent;
    };

    void start_burst(Peer& peer, TimePoint now);
    bool take_report_burst(Peer& peer, TimePoint now);
    void merge_reported(Peer& peer, std::vector<Endpoint> reported);
    Candidate& candidate(Peer& peer, const Endpoint& endpoint);
    void reselect(Peer& peer, TimePoint now);
    PathKind kind_of(const Endpoint& endpoint) const;
    PathKind kind_of(const Candidate& c) const;
    bool recent(const Candidate& c, TimePoint now) const;
    bool alive(const Peer& peer, const Candidate& c, TimePoint now) const;
    void give_up_or_settle(Peer& peer, TimePoint now);
    void send(std::vector<Probe>& out, const std::string& id, Peer& peer, Candidate& c,
              TimePoint now);
    void burst_step(std::vector<Probe>& out, const std::string& id, Peer& peer, TimePoint now);
    void check_step(std::vector<Probe>& out, const std::string& id, Peer& peer, TimePoint now);
    void spray_step(std::vector<Probe>& out, const std::string& id, Peer& peer, TimePoint now);
    void set_choice(Peer& peer, std::optional<Endpoint> endpoint, PathKind kind);
    milliseconds interval(const Peer& peer, TimePoint now) const;

    PathConfig config_;
    RandomTransaction random_;
    std::vector<IpPrefix> local_;
    std::map<std::string, Peer> peers_;
    std::map<kb::stun::TransactionId, Outstanding> outstanding_;
    bool changed_ = false;
    bool stun_wanted_ = false;
    int predicted_probes_ = 0;
};

}  // namespace mesh::agent
