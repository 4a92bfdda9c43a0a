#include "agent/relay_allocation.hpp"

#include <algorithm>
#include <set>

namespace mesh::agent {

using kb::Endpoint;
using kb::turn::Class;
using kb::turn::Message;
using kb::turn::Method;

const char* relay_transport_name(RelayTransportKind kind) {
    switch (kind) {
        case RelayTransportKind::tcp:
            return "tcp";
        case RelayTransportKind::tls:
            return "tls";
        case RelayTransportKind::udp:
            break;
    }
    return "udp";
}

std::string relay_server_text(const RelayCredential& c) {
    return c.server.to_string() + (c.transport == RelayTransportKind::udp
                                       ? ""
                                       : std::string(" over ") + relay_transport_name(c.transport));
}

std::vector<RelayCredential> relay_try_order(std::vector<RelayCredential> servers,
                                             bool udp_silent) {
    auto rank = [udp_silent](RelayTransportKind kind) {
        const int r = static_cast<int>(kind);  // udp 0, tcp 1, tls 2
        return udp_silent && kind == RelayTransportKind::udp ? 3 : r;
    };
    std::stable_sort(servers.begin(), servers.end(), [&](const auto& a, const auto& b) {
        return rank(a.transport) < rank(b.transport);
    });
    return servers;
}

RelayAllocation::RelayAllocation(RelayCredential credential, TimePoint now, int attempts,
                                 std::chrono::milliseconds first_timeout)
    : attempts_(std::max(attempts, 1)),
      first_timeout_(first_timeout),
      credential_(credential),
      next_credential_(std::move(credential)) {
    start_allocate(now);
}

void RelayAllocation::start_allocate(TimePoint now) {
    Message allocate;
    allocate.method = Method::allocate;
    allocate.requested_transport = kb::turn::kTransportUdp;
    allocate.lifetime = kLifetime;
    start_request(Kind::allocate, allocate, now);
}

void RelayAllocation::set_credential(RelayCredential credential) {
    next_credential_ = std::move(credential);
    if (state_ != State::allocated) credential_ = next_credential_;
}

std::optional<std::vector<std::uint8_t>> RelayAllocation::release() {
    if (state_ != State::allocated) return std::nullopt;
    Message refresh;
    refresh.method = Method::refresh;
    refresh.cls = Class::request;
    refresh.transaction = kb::turn::new_transaction();
    refresh.lifetime = 0;
    state_ = State::failed;
    error_ = "released";
    pending_.clear();
    relayed_.reset();
    channels_.clear();
    return encode_request(refresh);
}

void RelayAllocation::start_request(Kind kind, Message request, TimePoint now,
                                    std::optional<Endpoint> peer, std::uint16_t channel) {
    request.cls = Class::request;
    request.transaction = kb::turn::new_transaction();
    Pending p{kind, request, now, first_timeout_, 0, peer, channel};
    pending_.emplace(request.transaction, std::move(p));
}

std::vector<std::uint8_t> RelayAllocation::encode_request(Message request) const {
    if (!realm_ || !nonce_) return kb::turn::encode(request);
    request.username = credential_.username;
    request.realm = realm_;
    request.nonce = nonce_;
    const auto key = kb::turn::long_term_key(credential_.username, *realm_, credential_.password);
    return kb::turn::encode(request, &key);
}

void RelayAllocation::schedule(TimePoint now) {
    if (state_ != State::allocated) return;
    bool busy_refresh = false, busy_permission = false;
    std::set<Endpoint> binding;
    for (const auto& [id, p] : pending_) {
        busy_refresh |= p.kind == Kind::refresh;
        busy_permission |= p.kind == Kind::permission;
        if (p.kind == Kind::channel && p.peer) binding.insert(*p.peer);
    }
    if (!busy_refresh && now >= refresh_at_) {
        Message refresh;
        refresh.method = Method::refresh;
        refresh.lifetime = kLifetime;
        start_request(Kind::refresh, refresh, now);
    }
    if (!busy_permission && !peers_.empty() && now >= permissions_at_) {
        Message permit;
        permit.method = Method::create_permission;
        permit.peers = peers_;
        start_request(Kind::permission, permit, now);
        permissions_at_ = now + kPermissionRefresh;
    }
    for (const auto& peer : peers_) {
        auto& c = channels_[peer];
        if (c.number == 0) {
            c.number = next_channel_;
            next_channel_ = next_channel_ == kb::turn::kLastChannel ? kb::turn::kFirstChannel
                                                                    : next_channel_ + 1;
        }
        if (binding.contains(peer) || now < c.due) continue;
        Message bind;
        bind.method = Method::channel_bind;
        bind.channel = c.number;
        bind.peers = {peer};
        start_request(Kind::channel, bind, now, peer, c.number);
    }
}

std::vector<std::vector<std::uint8_t>> RelayAllocation::poll(TimePoint now) {
    std::vector<std::vector<std::uint8_t>> out;
    if (state_ == State::failed) return out;
    schedule(now);
    for (auto it = pending_.begin(); it != pending_.end();) {
        auto& p = it->second;
        if (p.next_send > now) {
            ++it;
            continue;
        }
        if (p.attempts >= attempts_) {
            if (p.kind == Kind::allocate) {
                const auto waited = first_timeout_ * ((1 << attempts_) - 1);
                fail("no answer from the TURN server " + credential_.server.to_string() + " (" +
                     relay_transport_name(credential_.transport) + ", " +
                     std::to_string(attempts_) + (attempts_ == 1 ? " try" : " tries") + " over " +
                     std::to_string(waited.count()) + " ms)");
                return out;
            }
            if (p.kind == Kind::refresh) refresh_at_ = now;  // try again at once
            if (p.kind == Kind::permission) permissions_at_ = now + std::chrono::seconds(1);
            if (p.kind == Kind::channel) channel_failed(p, now);
            it = pending_.erase(it);
            continue;
        }
        out.push_back(encode_request(p.request));
        p.attempts += 1;
        p.next_send = now + p.rto;
        p.rto *= 2;
        ++it;
    }
    return out;
}

bool RelayAllocation::receive(std::span<const std::uint8_t> packet, TimePoint now) {
    const auto answer = kb::turn::decode(packet);
    if (!answer || (answer->cls != Class::success && answer->cls != Class::error)) return false;
    auto it = pending_.find(answer->transaction);
    if (it == pending_.end()) return false;
    if (realm_ && answer->integrity_offset) {
        const auto key =
            kb::turn::long_term_key(credential_.username, *realm_, credential_.password);
        if (!kb::turn::verify_integrity(packet, *answer, key)) return false;
    } else if (realm_ && answer->cls == Class::success) {
        return false;  // an authenticated request's success must be signed: not the server's
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (answer->cls == Class::success) {
        on_success(p, *answer, now);
    } else {
        on_error(std::move(p), *answer, now);
    }
    return true;
}

void RelayAllocation::on_success(const Pending& p, const Message& answer, TimePoint now) {
    const auto half_life = [&](std::uint32_t fallback) {
        return now + std::chrono::seconds(
                         std::max<std::uint32_t>(answer.lifetime.value_or(fallback), 60) / 2);
    };
    switch (p.kind) {
        case Kind::allocate:
            if (!answer.relayed) {
                fail("the TURN server's Allocate answer has no relayed address");
                return;
            }
            state_ = State::allocated;
            relayed_ = answer.relayed;
            mapped_ = answer.mapped;
            error_.clear();
            refresh_at_ = half_life(kLifetime);
            permissions_at_ = now;
            break;
        case Kind::refresh:
            refresh_at_ = half_life(kLifetime);
            break;
        case Kind::permission:
            break;
        case Kind::channel:
            if (p.peer) {
                auto c = channels_.find(*p.peer);
                if (c != channels_.end() && c->second.number == p.channel) {
                    c->second.bound = true;
                    c->second.due = now + kChannelRefresh;
                }
            }
            break;
    }
}

void RelayAllocation::on_error(Pending p, const Message& answer, TimePoint now) {
    const bool authenticated = realm_.has_value() && nonce_.has_value();
    const std::string reason = "TURN " + credential_.server.to_string() + " answered " +
                               std::to_string(answer.error_code) +
                               (answer.error_reason.empty() ? "" : " " + answer.error_reason);
    if ((answer.error_code == 401 && !authenticated) || answer.error_code == 438) {
        if (!answer.nonce || (answer.error_code == 401 && !answer.realm)) {
            if (p.kind == Kind::allocate) fail(reason + " without a realm and nonce");
            return;
        }
        if (answer.realm) realm_ = answer.realm;
        nonce_ = answer.nonce;
        start_request(p.kind, p.request, now, p.peer, p.channel);  // signed this time
        return;
    }
    if (answer.error_code == 401 && p.kind == Kind::allocate) {
        fail(reason + ": the relay credentials are refused");
        return;
    }
    if ((answer.error_code == 401 || answer.error_code == 437 || answer.error_code == 441) &&
        p.kind != Kind::allocate) {
        // The server lost the allocation (437), or no longer takes its credentials (401: they
        // expired; 441: not the allocation's):
        // start again, with the newest credentials.
        state_ = State::allocating;
        relayed_.reset();
        channels_.clear();
        pending_.clear();
        credential_ = next_credential_;
        realm_.reset();
        nonce_.reset();
        start_allocate(now);
        return;
    }
    if (p.kind == Kind::allocate) {
        fail(reason);
    } else {
        error_ = reason;  // a permission or channel: asked again at its next turn
        if (p.kind == Kind::permission) permissions_at_ = now + std::chrono::seconds(5);
        if (p.kind == Kind::channel) channel_failed(p, now);
    }
}

void RelayAllocation::channel_failed(const Pending& p, TimePoint now) {
    if (!p.peer) return;
    auto c = channels_.find(*p.peer);
    if (c != channels_.end() && c->second.number == p.channel && !c->second.bound) {
        c->second.due = now + std::chrono::seconds(5);
    }
}

void RelayAllocation::fail(std::string why) {
    state_ = State::failed;
    error_ = std::move(why);
    pending_.clear();
}

void RelayAllocation::set_peers(const std::vector<Endpoint>& peers, TimePoint now) {
    std::set<kb::IpAddress> before, after;
    for (const auto& p : peers_) before.insert(p.address);
    for (const auto& p : peers) after.insert(p.address);
    peers_ = peers;
    std::erase_if(channels_, [&](const auto& c) {
        return std::find(peers_.begin(), peers_.end(), c.first) == peers_.end();
    });
    if (!std::includes(before.begin(), before.end(), after.begin(), after.end())) {
        permissions_at_ = now;  // a new address needs its permission now
    }
}

std::optional<std::uint16_t> RelayAllocation::channel_for(const Endpoint& peer) const {
    auto it = channels_.find(peer);
    if (it == channels_.end() || !it->second.bound) return std::nullopt;
    return it->second.number;
}

std::optional<Endpoint> RelayAllocation::peer_for(std::uint16_t channel) const {
    for (const auto& [peer, c] : channels_) {
        if (c.bound && c.number == channel) return peer;
    }
    return std::nullopt;
}

RelayAllocation::TimePoint RelayAllocation::next_wakeup() const {
    TimePoint next = TimePoint::max();
    for (const auto& [id, p] : pending_) next = std::min(next, p.next_send);
    if (state_ == State::allocated) {
        next = std::min(next, refresh_at_);
        if (!peers_.empty()) next = std::min(next, permissions_at_);
        std::set<Endpoint> binding;
        for (const auto& [id, p] : pending_) {
            if (p.kind == Kind::channel && p.peer) binding.insert(*p.peer);
        }
        for (const auto& peer : peers_) {
            auto c = channels_.find(peer);
            if (c == channels_.end()) return TimePoint::min();  // a new peer: bind now
            if (!binding.contains(peer)) next = std::min(next, c->second.due);
        }
    }
    return next;
}

}  // namespace mesh::agent
