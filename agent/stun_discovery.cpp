#include "agent/stun_discovery.hpp"

#include <algorithm>
#include <utility>

namespace mesh::agent {

const char* nat_type_name(NatType type) {
    switch (type) {
        case NatType::none:
            return "none";
        case NatType::endpoint_independent:
            return "endpoint-independent";
        case NatType::endpoint_dependent:
            return "endpoint-dependent";
        case NatType::unknown:
            break;
    }
    return "unknown";
}

StunDiscovery::StunDiscovery(StunConfig config, PathFinder::RandomTransaction random)
    : config_(config), random_(std::move(random)) {}

void StunDiscovery::set_servers(std::vector<Endpoint> servers, TimePoint now) {
    std::vector<Endpoint> have;
    for (const auto& s : servers_) have.push_back(s.endpoint);
    if (have == servers) return;
    servers_.clear();
    for (const auto& e : servers) {
        Server server;
        server.endpoint = e;
        servers_.push_back(server);
    }
    outstanding_.clear();
    round_running_ = false;
    silent_ = false;
    if (servers_.empty()) {
        if (reflexive_) changed_ = true;
        reflexive_.reset();
        return;
    }
    refresh(now);
}

void StunDiscovery::restart(TimePoint now) {
    round_running_ = false;
    outstanding_.clear();
    refresh(now);
    restarted_ = round_running_;
}

void StunDiscovery::refresh(TimePoint now) {
    if (servers_.empty() || round_running_) return;
    round_running_ = true;
    round_start_ = now;
    for (auto& s : servers_) {
        s.mapped.reset();
        s.next_send = now;
        s.backoff = milliseconds(100);
    }
}

bool StunDiscovery::answered(const kb::stun::TransactionId& transaction, const Endpoint& from,
                             const Endpoint& mapped, TimePoint) {
    auto it = outstanding_.find(transaction);
    if (it == outstanding_.end() || it->second >= servers_.size()) return false;
    Server& server = servers_[it->second];
    if (server.endpoint != from) return false;  // an answer must come from whom we asked
    outstanding_.erase(it);
    if (!round_running_ || server.mapped) return true;
    server.mapped = mapped;
    bool all = std::all_of(servers_.begin(), servers_.end(),
                           [](const Server& s) { return s.mapped.has_value(); });
    if (all) finish_round();
    return true;
}

void StunDiscovery::finish_round() {
    round_running_ = false;
    next_round_ = round_start_ + config_.refresh;
    outstanding_.clear();
    std::optional<Endpoint> first;
    bool differ = false;
    int answers = 0;
    for (const auto& s : servers_) {
        if (!s.mapped) continue;
        ++answers;
        if (!first) {
            first = s.mapped;
        } else if (*s.mapped != *first) {
            differ = true;
        }
    }
    bool after_change = std::exchange(restarted_, false);
    silent_ = !first;
    if (!first) {
        // Nobody answered. On the same network, keep what we knew (a lost round); after a network
        // change, what we knew belongs to the old network.
        if (after_change && reflexive_) {
            reflexive_.reset();
            mappings_differ_ = both_answered_ = false;
            changed_ = true;
        }
        return;
    }
    bool both = answers >= 2;
    if (first != reflexive_ || differ != mappings_differ_ || both != both_answered_) {
        changed_ = true;
    }
    reflexive_ = first;
    mappings_differ_ = differ;
    both_answered_ = both;
}

std::vector<StunRequest> StunDiscovery::due(TimePoint now) {
    std::vector<StunRequest> out;
    if (servers_.empty()) return out;
    if (!round_running_ && now >= next_round_) refresh(now);
    if (!round_running_) return out;
    if (now - round_start_ >= config_.round_timeout) {
        finish_round();
        return out;
    }
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        Server& s = servers_[i];
        if (s.mapped || now < s.next_send) continue;
        auto transaction = random_();
        outstanding_[transaction] = i;
        out.push_back(StunRequest{s.endpoint, transaction});
        s.next_send = now + s.backoff;
        s.backoff = std::min(s.backoff * 2, milliseconds(800));
    }
    return out;
}

TimePoint StunDiscovery::next_due() const {
    if (servers_.empty()) return TimePoint::max();
    if (!round_running_) return next_round_;
    auto next = round_start_ + config_.round_timeout;
    for (const auto& s : servers_) {
        if (!s.mapped) next = std::min(next, s.next_send);
    }
    return next;
}

NatType StunDiscovery::nat_type(const std::vector<Endpoint>& host) const {
    if (!reflexive_) return NatType::unknown;
    if (std::find(host.begin(), host.end(), *reflexive_) != host.end()) return NatType::none;
    if (mappings_differ_) return NatType::endpoint_dependent;
    return both_answered_ ? NatType::endpoint_independent : NatType::unknown;
}

std::vector<Endpoint> StunDiscovery::servers() const {
    std::vector<Endpoint> out;
    for (const auto& s : servers_) out.push_back(s.endpoint);
    return out;
}

bool StunDiscovery::take_changed() {
    return std::exchange(changed_, false);
}

}  // namespace mesh::agent
