// The operator's controls of a running agent beside join and status: meshctl ping (one round of
// the authenticated path probes), meshctl down / up and meshctl logout.
#include <spdlog/spdlog.h>

#include <thread>

#include "agent/agent.hpp"
#include "agent/leave_client.hpp"
#include "agent/logout.hpp"
#include "agent/peer_lookup.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::agent {

namespace {

constexpr std::size_t kMaxPingTargets = 16;  // a peer's candidate list is cut to 16 too

PingOutcome refused(PingOutcome::Refusal why, std::string message) {
    PingOutcome out;
    out.refusal = why;
    out.message = std::move(message);
    return out;
}

}  // namespace

PingOutcome Agent::ping(const std::string& query, std::chrono::milliseconds timeout) {
    using R = PingOutcome::Refusal;
    PingOutcome out;
    std::vector<kb::stun::TransactionId> sent;
    {
        std::lock_guard lock(mutex_);
        if (!state_ || state_->removed) return refused(R::not_ready, "not joined to a mesh");
        if (state_->down) {
            return refused(R::not_ready, "this host left the mesh (meshctl down); run meshctl up");
        }
        auto id = find_peer(state_->netmap, query);
        if (!id) {
            return refused(R::unknown_peer,
                           "no peer " + query +
                               " in this host's map (a hostname, node id or overlay address; "
                               "see meshctl status; a hostname two peers share needs the id)");
        }
        if (!engine_) {
            return refused(R::not_ready,
                           "path probing is off (mesh-agent --no-probing, or no CAP_NET_RAW): "
                           "there are no probes to send");
        }
        const auto& peer = state_->netmap.peers.at(*id);
        out.node_id = *id;
        out.hostname = peer.hostname;
        const auto sel = engine_->selection(*id);
        out.selected_path =
            relayed_peers_.contains(*id) ? "relay" : std::string(path_kind_name(sel.kind));
        std::vector<Endpoint> to;
        if (sel.endpoint && sel.verified && !sel.lost && is_direct_kind(sel.kind)) {
            to.push_back(*sel.endpoint);
        } else {
            // No direct path in use (probing, relayed, none): ask every candidate, so the answer
            // says whether one works now.
            for (const auto& e : peer.endpoints) {
                if (to.size() < kMaxPingTargets) to.push_back(e);
            }
        }
        sent = engine_->ping(*id, to, Clock::now());
        if (to.empty()) return out;  // the peer reported no candidate: nothing can answer
        if (sent.empty()) return refused(R::not_ready, "too many pings under way; try again");
        if (loop_) loop_->wake();
    }
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::lock_guard lock(mutex_);
        if (!engine_) break;
        if (auto answer = engine_->take_ping(sent)) {
            out.answer = answer;
            break;
        }
    }
    std::lock_guard lock(mutex_);
    if (engine_) engine_->forget_pings(sent);
    return out;
}

bool Agent::set_down(bool down) {
    std::lock_guard control(down_mutex_);
    Workers workers;
    {
        std::lock_guard lock(mutex_);
        if (!state_ || state_->removed || !keys_) throw Error("not joined to a mesh");
        if (state_->down == down) return false;
        state_->down = down;
        save_state(options_.state_dir, *state_);
        spdlog::info("event={} node={}", down ? "down" : "up", state_->node_id);
        if (!down) {
            bring_up_locked("up");
            return true;
        }
        workers = take_workers_locked();
        connected_ = false;
        last_error_ = "this host left the mesh (meshctl down); run meshctl up to come back";
    }
    workers.stop();  // outside the lock: their threads call back into us
    std::lock_guard lock(mutex_);
    clear_device_locked();
    return true;
}

void Agent::clear_device_locked() {
    relayed_peers_.clear();
    newly_relayed_.clear();
    relay_handshakes_.clear();
    relay_idle_since_.reset();
    // The device and routes without any peer; the map itself is kept for meshctl up (and for a
    // restart, which stays down).
    NetMap kept = state_->netmap;
    state_->netmap.peers.clear();
    state_->netmap.ready.clear();
    state_->netmap.initiate.clear();
    try {
        if (data_plane_.is_up()) reconcile_locked("down");
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=down error={}", kb::log_quote(e.what()));
    }
    state_->netmap = std::move(kept);
    data_plane_.down();
}

LogoutOutcome Agent::logout(bool force) {
    std::lock_guard control(down_mutex_);
    LogoutOutcome out;
    CoordinatorList coordinators;
    Keys keys;
    {
        std::lock_guard lock(mutex_);
        if (!state_ || !keys_) throw Error("not joined to a mesh: there is nothing to log out of");
        if (state_->removed) {
            throw Error(
                "this node was removed already (by the operator, or its key expired); "
                "meshctl join joins again");
        }
        out.node_id = state_->node_id;
        out.hostname = state_->hostname;
        coordinators = state_->coordinators;
        keys = *keys_;
    }
    // Outside the lock: the agent goes on serving while the coordinator answers. A little
    // shorter than a join's retries, so meshctl's 30 s cover it.
    std::optional<CoordinatorFailure> failure;
    try {
        leave_coordinator(coordinators, out.node_id, keys,
                          CallRetry{3, std::chrono::seconds(2), std::chrono::seconds(20)});
    } catch (const CoordinatorFailure& e) {
        failure = e;
    }
    const auto decision = decide_logout(
        failure ? std::optional<grpc::StatusCode>(failure->code()) : std::nullopt, force);
    if (!decision.clear) {
        spdlog::warn("event=logout_refused node={} error={}", out.node_id,
                     kb::log_quote(failure->what()));
        throw CoordinatorFailure(failure->code(), logout_refusal(failure->code(), failure->what()));
    }
    out.removed = decision.removed;
    if (failure && !decision.removed) out.coordinator_error = failure->what();

    Workers workers;
    {
        std::lock_guard lock(mutex_);
        workers = take_workers_locked();
    }
    workers.stop();  // outside the lock: their threads call back into us
    std::lock_guard lock(mutex_);
    forget_node_locked();
    spdlog::info("event=logged_out node={} hostname={} removed={}", out.node_id, out.hostname,
                 out.removed);
    return out;
}

void Agent::forget_node_locked() {
    relayed_peers_.clear();
    newly_relayed_.clear();
    relay_handshakes_.clear();
    relay_idle_since_.reset();
    relay_servers_.clear();
    relay_renew_at_ = 0;
    reported_relay_.clear();
    if (state_) {
        // Removed, with no map: the reconcile takes every peer, route and container route away.
        state_->removed = true;
        state_->netmap = NetMap{};
        try {
            if (data_plane_.is_up()) reconcile_locked("logout");
        } catch (const std::exception& e) {
            spdlog::error("event=apply_failed reason=logout error={}", kb::log_quote(e.what()));
        }
    }
    if (keys_) data_plane_.remove(owner_locked(*keys_));
    // The state first: keys without a state are never used again (Keys::load, published).
    remove_state(options_.state_dir);
    Keys::remove(options_.state_dir);
    state_.reset();
    keys_.reset();
    unjoined_keys_.reset();
    pending_key_.reset();
    rotation_needed_ = false;
    connected_ = false;
    last_error_.clear();
    reported_endpoints_.clear();
    sent_report_ = {};
    report_pending_ = true;
    logged_paths_.clear();
    reported_nat_ = NatType::unknown;
}

}  // namespace mesh::agent

namespace mesh::agent {

// Run in the agent rather than in meshctl: the NAT type that matters is the mapping of the
// WireGuard port, which only the agent's raw socket can ask STUN about (CAP_NET_RAW), and the
// agent already knows the coordinator and the STUN servers it uses.
NetcheckReport Agent::netcheck() {
    constexpr auto kProbeTimeout = std::chrono::milliseconds(500);
    NetcheckReport out;
    std::string skip_interface;
    {
        std::lock_guard lock(mutex_);
        skip_interface = data_plane_.interface_name();
        out.connected = connected_;
        if (const auto* replica = state_ ? sync_coordinator_locked() : nullptr) {
            out.coordinator = replica->address;
        }
        if (engine_) {
            out.stun_servers = engine_->stun_servers();
            out.reflexive = engine_->reflexive();
            out.nat_type = nat_type_name(engine_->nat_type());
            if (out.reflexive) {
                out.udp = "yes";
            } else if (engine_->stun_silent()) {
                out.udp = "no";
            }
        }
    }
    out.port_mapping = probe_port_mapping(default_gateway_v4(), kProbeTimeout);
    out.ipv6 = check_ipv6(skip_interface);
    if (!out.coordinator.empty()) {
        out.coordinator_connect = time_tcp_connect(out.coordinator, std::chrono::seconds(2));
    } else {
        out.coordinator_connect.error = "not joined: no coordinator known";
    }
    return out;
}

}  // namespace mesh::agent
