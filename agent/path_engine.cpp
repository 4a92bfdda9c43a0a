#include "agent/path_engine.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "agent/probe_key.hpp"
#include "kmod-bridge/error.hpp"

namespace mesh::agent {

namespace stun = kb::stun;

namespace {

// A probe's USERNAME: the sender's WireGuard key and the time it was sent, both under the
// integrity, so a recorded probe stops being answered after kProbeLifetime.
constexpr std::int64_t kProbeLifetime = 30;
constexpr int kAnswersPerSecond = 64;  // per peer: bounds what replayed probes can make us send

std::string probe_username(const Key& sender, std::int64_t now) {
    return sender.to_base64() + ":" + std::to_string(now);
}

// The sender's key when the username is ours and fresh.
std::optional<Key> probe_sender(const std::string& username, std::int64_t now) {
    auto colon = username.find(':');
    if (colon == std::string::npos || colon + 1 >= username.size() || username.size() > 80) {
        return std::nullopt;
    }
    std::int64_t sent = 0;
    auto text = std::string_view(username).substr(colon + 1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), sent);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    if (sent < now - kProbeLifetime || sent > now + kProbeLifetime) return std::nullopt;
    try {
        return Key::from_base64(username.substr(0, colon));
    } catch (const Error&) {
        return std::nullopt;
    }
}

}  // namespace

PathEngine::PathEngine(PathConfig paths, StunConfig stun_config, Key own_private, Key own_public,
                       PathFinder::RandomTransaction random, WallClock wall_clock)
    : own_private_(own_private),
      own_public_(own_public),
      finder_(paths, random),
      stun_(stun_config, random),
      wall_clock_(std::move(wall_clock)),
      random_(random) {}

void PathEngine::set_own_key(const Key& own_private, const Key& own_public) {
    own_private_ = own_private;
    own_public_ = own_public;
    probe_keys_.clear();
}

void PathEngine::set_peers(const NetMap& map, TimePoint now) {
    std::map<std::string, std::vector<Endpoint>> candidates;
    std::map<Key, std::string> by_key;
    for (const auto& [id, peer] : map.peers) {
        if (peer.public_key == own_public_) continue;
        if (!probe_keys_.contains(id) || !peer_by_key_.contains(peer.public_key)) {
            try {
                probe_keys_[id] = probe_key(own_private_, peer.public_key);
            } catch (const Error&) {
                continue;  // a low-order key: nobody can answer for it
            }
        }
        by_key[peer.public_key] = id;
        candidates[id] = peer.endpoints;
    }
    std::erase_if(probe_keys_, [&](const auto& e) { return !candidates.contains(e.first); });
    std::erase_if(applied_, [&](const auto& e) { return !candidates.contains(e.first); });
    std::erase_if(budgets_, [&](const auto& e) { return !candidates.contains(e.first); });
    std::erase_if(traffic_, [&](const auto& e) { return !candidates.contains(e.first); });
    peer_by_key_ = std::move(by_key);
    finder_.set_peers(candidates, now);
    // Port prediction towards peers behind an endpoint-dependent NAT, unless this host is behind
    // one too (its own probes would leave from a new port each: nothing to meet). The peer's
    // mapping is its last IPv4 candidate: it reports its own addresses first.
    const bool own_hard = nat_type() == NatType::endpoint_dependent;
    for (const auto& [id, peer] : map.peers) {
        if (!candidates.contains(id)) continue;
        std::optional<Endpoint> reflexive;
        if (peer.nat_endpoint_dependent && !own_hard) {
            for (const auto& e : peer.endpoints) {
                if (e.address.is_v4()) reflexive = e;
            }
        }
        finder_.predict(id, reflexive, now);
    }
}

bool PathEngine::set_local(LocalNetwork local, TimePoint now) {
    if (local == local_) return false;
    local_ = std::move(local);
    finder_.set_local_prefixes(local_.prefixes);
    finder_.network_changed(now);
    stun_.restart(now);  // what a running round learned may be from before the change
    return true;
}

void PathEngine::set_stun_servers(std::vector<Endpoint> servers, TimePoint now) {
    stun_.set_servers(std::move(servers), now);
}

PathCounters& PathCounters::operator+=(const PathCounters& other) {
    stun_requests += other.stun_requests;
    stun_answers += other.stun_answers;
    probes_sent += other.probes_sent;
    probe_answers += other.probe_answers;
    probes_answered += other.probes_answered;
    return *this;
}

std::vector<Datagram> PathEngine::on_datagram(const Datagram& in, TimePoint now) {
    if (!stun::looks_like_stun(in.bytes)) return {};
    auto message = stun::decode(in.bytes);
    if (!message) return {};
    if (message->type == stun::Type::binding_request) return answer_probe(in, *message, now);
    if (message->type == stun::Type::binding_success) take_answer(in, in.bytes, *message, now);
    return {};
}

// A peer's probe: answered only when it names a peer of ours and its integrity verifies with
// that pair's key, so nobody else can learn that this port is here or steer our choice.
std::vector<Datagram> PathEngine::answer_probe(const Datagram& in, const stun::Message& request,
                                               TimePoint now) {
    if (!request.username || !request.integrity_offset) return {};
    auto sender = probe_sender(*request.username, wall_clock_());
    if (!sender) return {};
    auto id = peer_by_key_.find(*sender);
    if (id == peer_by_key_.end()) return {};
    const auto& key = probe_keys_.at(id->second);
    if (!stun::verify_integrity(in.bytes, request, key)) return {};
    auto& budget = budgets_[id->second];
    if (now - budget.window >= std::chrono::seconds(1)) budget = AnswerBudget{now, 0};
    if (++budget.answered > kAnswersPerSecond) return {};
    stun::Message answer;
    answer.type = stun::Type::binding_success;
    answer.transaction = request.transaction;
    answer.mapped = in.peer;
    finder_.request_from(id->second, in.peer, now);
    ++counters_.probes_answered;
    return {Datagram{in.peer, stun::encode(answer, &key)}};
}

void PathEngine::take_answer(const Datagram& in, const std::vector<std::uint8_t>& bytes,
                             const stun::Message& answer, TimePoint now) {
    if (answer.mapped && stun_.answered(answer.transaction, in.peer, *answer.mapped, now)) {
        ++counters_.stun_answers;
        return;
    }
    auto ping = pings_.find(answer.transaction);
    auto peer = ping != pings_.end() ? std::optional(ping->second.probe.peer_id)
                                     : finder_.peer_of(answer.transaction);
    if (!peer || !answer.integrity_offset) return;
    auto key = probe_keys_.find(*peer);
    if (key == probe_keys_.end() || !stun::verify_integrity(bytes, answer, key->second)) return;
    const auto& own = local_.host_endpoints;
    bool direct = answer.mapped && std::find(own.begin(), own.end(), *answer.mapped) != own.end();
    ++counters_.probe_answers;
    if (ping == pings_.end()) {
        finder_.answered(answer.transaction, now, direct);
        return;
    }
    auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(now - ping->second.sent);
    ping_answers_[answer.transaction] =
        PingAnswer{*peer, in.peer, finder_.kind_for(ping->second.probe.to, direct), rtt};
    pings_.erase(ping);
}

std::vector<stun::TransactionId> PathEngine::ping(const std::string& peer,
                                                  const std::vector<Endpoint>& to, TimePoint now) {
    std::vector<stun::TransactionId> out;
    if (!probe_keys_.contains(peer)) return out;
    for (const auto& endpoint : to) {
        if (pings_.size() + ping_answers_.size() >= kMaxPings) break;
        Probe probe{peer, endpoint, random_()};
        pings_[probe.transaction] = PingSent{probe, now};
        pings_due_.push_back(probe);
        out.push_back(probe.transaction);
    }
    return out;
}

std::optional<PingAnswer> PathEngine::take_ping(
    const std::vector<stun::TransactionId>& transactions) {
    for (const auto& t : transactions) {
        if (auto it = ping_answers_.find(t); it != ping_answers_.end()) return it->second;
    }
    return std::nullopt;
}

void PathEngine::forget_pings(const std::vector<stun::TransactionId>& transactions) {
    for (const auto& t : transactions) {
        pings_.erase(t);
        ping_answers_.erase(t);
    }
    std::erase_if(pings_due_, [&](const Probe& p) {
        return std::find(transactions.begin(), transactions.end(), p.transaction) !=
               transactions.end();
    });
}

std::vector<Datagram> PathEngine::due(TimePoint now) {
    std::vector<Datagram> out;
    for (const auto& request : stun_.due(now)) {
        stun::Message m;
        m.transaction = request.transaction;
        m.padding = stun::kBindingRequestPadding;  // the coordinator answers no smaller request
        out.push_back(Datagram{request.to, stun::encode(m)});
        ++counters_.stun_requests;
    }
    // A check that went unanswered may mean our NAT moved us: ask STUN now, not at the refresh.
    auto probes = finder_.due(now);
    if (finder_.take_stun_wanted()) stun_.refresh(now);
    for (auto& p : pings_due_) {
        if (auto it = pings_.find(p.transaction); it != pings_.end()) it->second.sent = now;
        probes.push_back(std::move(p));
    }
    pings_due_.clear();
    const std::string username = probe_username(own_public_, wall_clock_());
    for (const auto& probe : probes) {
        auto key = probe_keys_.find(probe.peer_id);
        if (key == probe_keys_.end()) continue;
        stun::Message m;
        m.transaction = probe.transaction;
        m.username = username;
        out.push_back(Datagram{probe.to, stun::encode(m, &key->second)});
        ++counters_.probes_sent;
    }
    return out;
}

TimePoint PathEngine::next_due() const {
    return std::min(finder_.next_due(), stun_.next_due());
}

void PathEngine::observe_device(const std::string& peer, const std::optional<Endpoint>& device,
                                TimePoint now) {
    auto it = applied_.find(peer);
    if (!device || it == applied_.end() || it->second == *device) return;
    finder_.observed(peer, *device, now);
    it->second = *device;
}

void PathEngine::traffic(const std::string& peer, std::uint64_t bytes, TimePoint now) {
    auto [it, inserted] = traffic_.try_emplace(peer, bytes);
    if (inserted || it->second == bytes) return;
    it->second = bytes;
    finder_.activity(peer, now);
}

void PathEngine::applied(const std::string& peer, const std::optional<Endpoint>& endpoint) {
    if (endpoint) applied_[peer] = *endpoint;
}

std::vector<Endpoint> PathEngine::candidates() const {
    auto out = local_.host_endpoints;
    auto reflexive = stun_.reflexive();
    if (reflexive && std::find(out.begin(), out.end(), *reflexive) == out.end()) {
        out.push_back(*reflexive);
    }
    return out;
}

bool PathEngine::take_candidates_changed(TimePoint now) {
    bool stun_changed = stun_.take_changed();
    if (stun_changed) finder_.network_changed(now);
    auto now_candidates = candidates();
    auto nat = nat_type();
    if (now_candidates == reported_candidates_ && nat == reported_nat_ && !stun_changed) {
        return false;
    }
    reported_candidates_ = now_candidates;
    reported_nat_ = nat;
    return true;
}

}  // namespace mesh::agent
