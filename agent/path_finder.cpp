#include "agent/path_finder.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace mesh::agent {

namespace {

// Offsets of a burst's probe rounds from its start: fast at first (both sides usually start
// within a few milliseconds of each other, and each side's first probe only opens its own NAT),
// then slower, ending at about PathConfig::give_up.
constexpr int kRoundOffsetsMs[] = {0, 50, 150, 300, 500, 800, 1200, 1700};
constexpr int kRounds = static_cast<int>(std::size(kRoundOffsetsMs));
// A burst that started while the pair had a direct path (this host's mapping or addresses
// changed, or its checks went unanswered) and got no answer by this round (500 ms) reports the
// path lost: the agent falls back to the relay instead of waiting for give_up.
constexpr int kLostRound = 4;
constexpr std::size_t kMaxCandidates = 16;
constexpr auto kOutstandingLifetime = std::chrono::seconds(10);
// Probe bursts a peer's changed candidate lists may start: a budget of kReportBursts, refilled
// by one every kReportBurstInterval (security review, finding 4).
constexpr int kReportBursts = 3;
constexpr auto kReportBurstInterval = std::chrono::seconds(3);

}  // namespace

bool is_direct_kind(PathKind kind) {
    return kind == PathKind::lan || kind == PathKind::nat_direct;
}

const char* path_kind_name(PathKind kind) {
    switch (kind) {
        case PathKind::lan:
            return "lan";
        case PathKind::nat_direct:
            return "nat-direct";
        case PathKind::none:
            return "none";
        case PathKind::relay:
            return "relay";
        case PathKind::probing:
            break;
    }
    return "probing";
}

PathFinder::PathFinder(PathConfig config, RandomTransaction random)
    : config_(config), random_(std::move(random)) {}

void PathFinder::set_local_prefixes(std::vector<IpPrefix> prefixes) {
    local_ = std::move(prefixes);
}

PathKind PathFinder::kind_of(const Endpoint& endpoint) const {
    for (const auto& p : local_) {
        if (p.contains(endpoint.address)) return PathKind::lan;
    }
    return PathKind::nat_direct;
}

PathKind PathFinder::kind_of(const Candidate& c) const {
    return c.direct ? kind_of(c.endpoint) : PathKind::nat_direct;
}

bool PathFinder::recent(const Candidate& c, TimePoint now) const {
    return c.last_ok &&
           now - *c.last_ok <= config_.check_interval * (config_.misses_before_lost + 1);
}

// While probing runs, only what answered in this round of probing counts: a burst starts because
// something changed, and what answered before may be exactly what stopped working.
bool PathFinder::alive(const Peer& peer, const Candidate& c, TimePoint now) const {
    if (peer.burst_round >= 0 && !peer.slow) return c.last_ok && *c.last_ok >= peer.burst_start;
    return recent(c, now);
}

PathFinder::Candidate& PathFinder::candidate(Peer& peer, const Endpoint& endpoint) {
    auto it = std::find_if(peer.candidates.begin(), peer.candidates.end(),
                           [&](const Candidate& c) { return c.endpoint == endpoint; });
    if (it != peer.candidates.end()) return *it;
    if (peer.candidates.size() >= kMaxCandidates) {
        // Make room by dropping the oldest candidate that the map does not carry.
        auto victim = std::find_if(
            peer.candidates.begin(), peer.candidates.end(),
            [&](const Candidate& c) { return !c.reported && c.endpoint != peer.chosen; });
        if (victim != peer.candidates.end()) peer.candidates.erase(victim);
    }
    Candidate c;
    c.endpoint = endpoint;
    peer.candidates.push_back(c);
    return peer.candidates.back();
}

namespace {
// A peer may list many endpoints (up to 64 pass the coordinator); probing all of them, for ever
// if none answers, would let one member aim the whole mesh's probes at any address.
std::vector<Endpoint> first_candidates(const std::vector<Endpoint>& all) {
    return {all.begin(), all.begin() + static_cast<long>(std::min(all.size(), kMaxCandidates))};
}
}  // namespace

void PathFinder::merge_reported(Peer& peer, std::vector<Endpoint> reported) {
    auto listed = [&](const Endpoint& e) {
        return std::find(reported.begin(), reported.end(), e) != reported.end();
    };
    std::erase_if(peer.candidates, [&](const Candidate& c) {
        return c.reported && !listed(c.endpoint) && c.endpoint != peer.chosen;
    });
    for (auto& c : peer.candidates) c.reported = listed(c.endpoint);
    for (const auto& e : reported) candidate(peer, e).reported = true;
    peer.reported = std::move(reported);
}

void PathFinder::set_choice(Peer& peer, std::optional<Endpoint> endpoint, PathKind kind) {
    if (peer.chosen != endpoint || peer.kind != kind) changed_ = true;
    peer.chosen = endpoint;
    peer.kind = kind;
}

milliseconds PathFinder::interval(const Peer& peer, TimePoint now) const {
    return now - peer.last_activity <= config_.active_window ? config_.check_interval
                                                             : config_.idle_check_interval;
}

void PathFinder::activity(const std::string& id, TimePoint now) {
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& peer = it->second;
    bool was_idle = interval(peer, now) != config_.check_interval;
    peer.last_activity = now;
    if (was_idle && !peer.check_outstanding) peer.next_check = std::min(peer.next_check, now);
}

// One burst from the peer's budget for bursts its candidate changes start; false when spent.
bool PathFinder::take_report_burst(Peer& peer, TimePoint now) {
    if (peer.report_burst == TimePoint{}) peer.report_burst = now;
    while (peer.report_budget < kReportBursts && now - peer.report_burst >= kReportBurstInterval) {
        ++peer.report_budget;
        peer.report_burst += kReportBurstInterval;
    }
    if (peer.report_budget >= kReportBursts) peer.report_burst = now;
    if (peer.report_budget == 0) return false;
    --peer.report_budget;
    return true;
}

// Probing starts because something changed: watch the peer closely for a while either way.
void PathFinder::start_burst(Peer& peer, TimePoint now) {
    peer.burst_from_direct = peer.kind == PathKind::lan || peer.kind == PathKind::nat_direct;
    peer.last_activity = now;
    peer.burst_start = now;
    peer.burst_round = 0;
    peer.slow = false;
    peer.next_round = now;
    peer.check_outstanding = false;
    peer.misses = 0;
}

void PathFinder::set_peers(const std::map<std::string, std::vector<Endpoint>>& peers,
                           TimePoint now) {
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (!peers.contains(it->first)) {
            it = peers_.erase(it);
            changed_ = true;
        } else {
            ++it;
        }
    }
    for (const auto& [id, reported] : peers) {
        auto [it, inserted] = peers_.try_emplace(id);
        auto first = first_candidates(reported);
        if (!inserted && it->second.reported == first) continue;
        merge_reported(it->second, std::move(first));
        if (inserted) changed_ = true;
        // A peer changing its candidates all the time (a compromised one, aiming the mesh's
        // probes somewhere: security review, finding 4) starts one burst per interval at most.
        // A burst under way takes the new candidates into its remaining rounds; after it, a
        // change starts a new one from a budget of kReportBursts, one more every
        // kReportBurstInterval (a join's phases and a move get through at once; churn waits).
        Peer& peer = it->second;
        if (!inserted) {
            const bool bursting = peer.burst_round >= 0 && peer.burst_round < kRounds && !peer.slow;
            if (bursting) continue;
            if (!take_report_burst(peer, now)) {
                peer.deferred_burst = peer.report_burst + kReportBurstInterval;
                continue;
            }
        }
        peer.deferred_burst.reset();
        start_burst(peer, now);
    }
}

void PathFinder::network_changed(TimePoint now) {
    for (auto& [id, peer] : peers_) {
        for (auto& c : peer.candidates) c.last_ok.reset();
        start_burst(peer, now);
    }
}

void PathFinder::observed(const std::string& id, const Endpoint& endpoint, TimePoint now) {
    auto it = peers_.find(id);
    if (it == peers_.end() || it->second.chosen == endpoint) return;
    Peer& peer = it->second;
    candidate(peer, endpoint).last_ok = now;
    set_choice(peer, endpoint, kind_of(endpoint));
    // Verify it like any endpoint in use: a check now, probing again if it fails.
    peer.burst_round = -1;
    peer.slow = false;
    peer.check_outstanding = false;
    peer.misses = 0;
    peer.next_check = now;
}

void PathFinder::request_from(const std::string& id, const Endpoint& from, TimePoint now) {
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& peer = it->second;
    Candidate& c = candidate(peer, from);
    bool settled = peer.burst_round < 0 && peer.chosen == from && recent(c, now);
    if (!settled && !c.send_now) c.send_now = now;
}

std::optional<std::string> PathFinder::peer_of(const kb::stun::TransactionId& transaction) const {
    auto it = outstanding_.find(transaction);
    if (it == outstanding_.end()) return std::nullopt;
    return it->second.peer;
}

bool PathFinder::answered(const kb::stun::TransactionId& transaction, TimePoint now,
                          bool saw_us_directly) {
    auto it = outstanding_.find(transaction);
    if (it == outstanding_.end()) return false;
    Outstanding sent = it->second;
    outstanding_.erase(it);
    auto p = peers_.find(sent.peer);
    if (p == peers_.end()) return true;
    Peer& peer = p->second;
    Candidate& c = candidate(peer, sent.to);
    c.last_ok = now;
    c.direct = saw_us_directly;
    c.rtt = std::chrono::duration_cast<std::chrono::microseconds>(now - sent.sent);
    if (peer.chosen == sent.to) {
        if (peer.check_outstanding) peer.next_check = peer.check_sent + interval(peer, now);
        peer.check_outstanding = false;
        peer.misses = 0;
        peer.rtt = c.rtt;
    }
    reselect(peer, now);
    return true;
}

// The best recently answering candidate: a LAN one before others, then in the peer's order
// (its own addresses before its NAT mapping), the observed ones last. The endpoint in use is kept
// while it answers and nothing of a better kind does, so jitter never flips a working path.
void PathFinder::reselect(Peer& peer, TimePoint now) {
    auto rank = [&](const Candidate& c) {
        auto at = std::find(peer.reported.begin(), peer.reported.end(), c.endpoint);
        auto order = static_cast<int>(at - peer.reported.begin());
        return std::pair{kind_of(c) == PathKind::lan ? 0 : 1, order};
    };
    const Candidate* best = nullptr;
    for (const auto& c : peer.candidates) {
        if (alive(peer, c, now) && (!best || rank(c) < rank(*best))) best = &c;
    }
    if (!best) return;
    if (peer.lost) changed_ = true;
    peer.lost = false;
    const Candidate* current = nullptr;
    for (const auto& c : peer.candidates) {
        if (peer.chosen == c.endpoint && alive(peer, c, now)) current = &c;
    }
    if (current && rank(*current).first == rank(*best).first) best = current;
    peer.rtt = best->rtt;
    set_choice(peer, best->endpoint, kind_of(*best));

    bool lan_possible =
        std::any_of(peer.candidates.begin(), peer.candidates.end(),
                    [&](const Candidate& c) { return kind_of(c.endpoint) == PathKind::lan; });
    if (peer.burst_round >= 0 && (peer.kind == PathKind::lan || !lan_possible || peer.slow)) {
        peer.burst_round = -1;  // nothing better to find: settle
        peer.slow = false;
        peer.next_check = now + interval(peer, now);
        peer.check_outstanding = false;
        peer.misses = 0;
    }
}

void PathFinder::send(std::vector<Probe>& out, const std::string& id, Peer&, Candidate& c,
                      TimePoint now) {
    auto transaction = random_();
    outstanding_[transaction] = Outstanding{id, c.endpoint, now};
    c.send_now.reset();
    out.push_back(Probe{id, c.endpoint, transaction});
}

void PathFinder::predict(const std::string& id, std::optional<Endpoint> reflexive, TimePoint now) {
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    auto& spray = it->second.spray;
    if (!reflexive) {
        spray.reset();
    } else if (!spray || spray->base() != *reflexive) {
        spray.emplace(*reflexive, SprayConfig{}, now);
    }
}

// While the peer has no direct path: the predicted ports the budget allows now.
void PathFinder::spray_step(std::vector<Probe>& out, const std::string& id, Peer& peer,
                            TimePoint now) {
    if (!peer.spray || is_direct_kind(peer.kind)) return;
    for (const auto& to : peer.spray->due(now)) {
        auto transaction = random_();
        outstanding_[transaction] = Outstanding{id, to, now};
        out.push_back(Probe{id, to, transaction});
        ++predicted_probes_;
    }
}

// At give_up: keep a NAT-traversed path that answered (no LAN one did), or report none and go on
// probing slowly, so a path that appears later (the peer's NAT changed) is still found.
void PathFinder::give_up_or_settle(Peer& peer, TimePoint now) {
    bool answering = false;
    for (const auto& c : peer.candidates) {
        answering |= peer.chosen == c.endpoint && alive(peer, c, now);
    }
    if (answering) {
        peer.burst_round = -1;
        peer.next_check = now;
        return;
    }
    set_choice(peer, peer.chosen, PathKind::none);
    peer.slow = true;
}

void PathFinder::burst_step(std::vector<Probe>& out, const std::string& id, Peer& peer,
                            TimePoint now) {
    if (peer.burst_round < 0 || now < peer.next_round) return;
    if (peer.burst_round >= kRounds && !peer.slow) {
        give_up_or_settle(peer, now);
        if (peer.burst_round < 0) return;
    }
    if (peer.burst_round == kLostRound && peer.burst_from_direct && !peer.lost &&
        std::none_of(peer.candidates.begin(), peer.candidates.end(),
                     [&](const Candidate& c) { return alive(peer, c, now); })) {
        peer.lost = true;
        changed_ = true;
    }
    for (auto& c : peer.candidates) send(out, id, peer, c, now);
    if (peer.slow) {
        peer.next_round = now + config_.retry_none;
        stun_wanted_ = true;  // our own mapping may be what changed
        return;
    }
    ++peer.burst_round;
    peer.next_round = peer.burst_round < kRounds
                          ? peer.burst_start + milliseconds(kRoundOffsetsMs[peer.burst_round])
                          : peer.burst_start + config_.give_up;
}

// A check goes to the endpoint in use every interval(); one unanswered for check_timeout is a
// miss (this host's mapping may have moved: ask STUN) and is sent again at once; after
// misses_before_lost in a row, every candidate is probed again.
void PathFinder::check_step(std::vector<Probe>& out, const std::string& id, Peer& peer,
                            TimePoint now) {
    if (peer.burst_round >= 0 || !peer.chosen || now < peer.next_check) return;
    if (peer.check_outstanding) {
        ++peer.misses;
        stun_wanted_ = true;
        if (peer.misses >= config_.misses_before_lost) {
            peer.lost = true;
            changed_ = true;
            start_burst(peer, now);
            burst_step(out, id, peer, now);
            return;
        }
    }
    send(out, id, peer, candidate(peer, *peer.chosen), now);
    peer.check_outstanding = true;
    peer.check_sent = now;
    // A slow path (a long round trip, a loaded uplink) must not look dead: wait at least twice
    // its last round trip.
    auto rtt = std::chrono::duration_cast<milliseconds>(peer.rtt * 2) + milliseconds(50);
    peer.next_check = now + std::max(config_.check_timeout, rtt);
}

std::vector<Probe> PathFinder::due(TimePoint now) {
    std::erase_if(outstanding_, [&](const auto& entry) {
        return now - entry.second.sent > kOutstandingLifetime;
    });
    std::vector<Probe> out;
    for (auto& [id, peer] : peers_) {
        if (peer.deferred_burst && *peer.deferred_burst <= now && take_report_burst(peer, now)) {
            peer.deferred_burst.reset();
            start_burst(peer, now);
        }
        for (auto& c : peer.candidates) {
            if (c.send_now && *c.send_now <= now) send(out, id, peer, c, now);
        }
        burst_step(out, id, peer, now);
        check_step(out, id, peer, now);
        spray_step(out, id, peer, now);
    }
    return out;
}

TimePoint PathFinder::next_due() const {
    auto next = TimePoint::max();
    for (const auto& [id, peer] : peers_) {
        if (peer.deferred_burst) next = std::min(next, *peer.deferred_burst);
        if (peer.burst_round >= 0) {
            next = std::min(next, peer.next_round);
        } else if (peer.chosen) {
            next = std::min(next, peer.next_check);
        }
        for (const auto& c : peer.candidates) {
            if (c.send_now) next = std::min(next, *c.send_now);
        }
        if (peer.spray && !is_direct_kind(peer.kind)) next = std::min(next, peer.spray->next_due());
    }
    return next;
}

PathSelection PathFinder::selection(const std::string& id) const {
    PathSelection s;
    auto it = peers_.find(id);
    if (it == peers_.end()) return s;
    const Peer& peer = it->second;
    s.kind = peer.kind;
    s.rtt = peer.rtt;
    s.given_up = peer.kind == PathKind::none;
    s.lost = peer.lost;
    if (peer.chosen) {
        s.endpoint = peer.chosen;
        for (const auto& c : peer.candidates) {
            if (c.endpoint == peer.chosen) s.verified = c.last_ok.has_value();
        }
        return s;
    }
    // Nothing answered yet: the first IPv4 candidate, else the first, as a starting point.
    auto v4 = std::find_if(peer.reported.begin(), peer.reported.end(),
                           [](const Endpoint& e) { return e.address.is_v4(); });
    if (v4 != peer.reported.end()) {
        s.endpoint = *v4;
    } else if (!peer.reported.empty()) {
        s.endpoint = peer.reported.front();
    }
    return s;
}

std::map<std::string, PathSelection> PathFinder::selections() const {
    std::map<std::string, PathSelection> out;
    for (const auto& [id, peer] : peers_) out[id] = selection(id);
    return out;
}

bool PathFinder::take_changed() {
    return std::exchange(changed_, false);
}

bool PathFinder::take_stun_wanted() {
    return std::exchange(stun_wanted_, false);
}

}  // namespace mesh::agent
