#include "agent/agent.hpp"

#include <spdlog/spdlog.h>

#include <map>

#include "agent/desired_config.hpp"
#include "agent/host_endpoints.hpp"
#include "agent/join_client.hpp"
#include "kmod-bridge/error.hpp"

namespace mesh::agent {

Agent::Agent(AgentOptions options) : options_(options), data_plane_(options.data_plane) {}

Agent::~Agent() {
    stop();
}

void Agent::start() {
    std::lock_guard lock(mutex_);
    keys_ = Keys::load(options_.state_dir);
    state_ = load_state(options_.state_dir);
    if (!state_) {
        spdlog::info("event=not_joined state_dir={} hint=\"run meshctl join\"", options_.state_dir);
        return;
    }
    if (!keys_) throw Error("state in " + options_.state_dir + " has no keys; join again");
    if (state_->removed) {
        spdlog::warn("event=removed node={} hint=\"this node was removed; run meshctl join\"",
                     state_->node_id);
        return;
    }
    data_plane_.up(state_->addresses, state_->network.mtu);
    if (data_plane_.created_fresh()) {
        // Peers still hold sessions with the device we lost; they would keep sending on them
        // until WireGuard gives up (15 s). So this side starts every handshake right away.
        state_->netmap.initiate = state_->netmap.ready;
    }
    reconcile_locked("start");
    start_sync_locked();
}

void Agent::stop() {
    std::unique_ptr<SyncClient> sync;
    {
        std::lock_guard lock(mutex_);
        sync = std::move(sync_);
    }
    if (sync) sync->stop();  // outside the lock: its thread calls back into us
    std::lock_guard lock(mutex_);
    data_plane_.down();
}

void Agent::start_sync_locked() {
    SyncClient::Handlers h;
    h.applied_version = [this] {
        std::lock_guard lock(mutex_);
        return state_ ? state_->netmap.version : 0;
    };
    h.endpoints = [this] {
        std::lock_guard lock(mutex_);
        reported_endpoints_ = endpoints_locked();
        return reported_endpoints_;
    };
    h.on_map = [this](const MapUpdate& u) { return on_map(u); };
    h.on_ready = [this](const std::vector<std::string>& initiate,
                        const std::vector<std::string>& respond) { on_ready(initiate, respond); };
    h.on_status = [this](bool up, const std::string& error) {
        std::lock_guard lock(mutex_);
        connected_ = up;
        if (!up) last_error_ = error;
        if (up) last_error_.clear();
    };
    h.on_removed = [this] { on_removed(); };
    sync_ = std::make_unique<SyncClient>(state_->coordinator, state_->node_id, *keys_, h);
    sync_->start();
}

void Agent::reconcile_locked(const char* reason) {
    DeviceIdentity identity{keys_->wireguard_private, options_.listen_port};
    auto current = data_plane_.state();
    std::set<Key> established;
    for (const auto& p : current.peers) {
        if (p.last_handshake_sec != 0) established.insert(p.config.public_key);
    }
    auto desired = desired_config(state_->netmap, state_->network, identity, established);
    auto update = data_plane_.apply(desired, current);
    if (update.empty()) return;
    int added = 0, changed = 0, removed = 0;
    for (const auto& p : update.peers) {
        if (p.remove)
            ++removed;
        else if (p.update_only)
            ++changed;
        else
            ++added;
    }
    spdlog::info(
        "event=reconciled reason={} version={} peers_added={} peers_changed={} "
        "peers_removed={}",
        reason, state_->netmap.version, added, changed, removed);
}

SyncClient::Verdict Agent::on_map(const MapUpdate& update) {
    std::lock_guard lock(mutex_);
    if (!state_) return SyncClient::Verdict::resync;
    auto result = apply_update(state_->netmap, update, state_->node_id);
    if (result == ApplyResult::gap) return SyncClient::Verdict::resync;
    if (result == ApplyResult::self_removed) return SyncClient::Verdict::removed;
    try {
        reconcile_locked(update.full ? "full_map" : "delta");
        save_state(options_.state_dir, *state_);
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed version={} error=\"{}\"", update.version, e.what());
        state_->netmap.version = 0;  // not applied: ask for the whole map again
        return SyncClient::Verdict::resync;
    }
    return SyncClient::Verdict::applied;
}

void Agent::on_ready(const std::vector<std::string>& initiate,
                     const std::vector<std::string>& respond) {
    std::lock_guard lock(mutex_);
    if (!state_) return;
    mark_ready(state_->netmap, initiate, respond);
    try {
        reconcile_locked("peers_ready");
        save_state(options_.state_dir, *state_);
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=peers_ready error=\"{}\"", e.what());
    }
}

void Agent::on_removed() {
    std::lock_guard lock(mutex_);
    if (!state_) return;
    spdlog::warn(
        "event=removed node={} hint=\"the operator removed this node; run meshctl join "
        "to rejoin\"",
        state_->node_id);
    state_->removed = true;
    state_->netmap.peers.clear();
    state_->netmap.ready.clear();
    state_->netmap.initiate.clear();
    connected_ = false;
    last_error_ = "this node was removed by the operator; run meshctl join to rejoin";
    try {
        reconcile_locked("removed");
        save_state(options_.state_dir, *state_);
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=removed error=\"{}\"", e.what());
    }
}

std::vector<std::string> Agent::endpoints_locked() {
    std::vector<std::string> out;
    if (!state_) return out;
    for (const auto& e : select_endpoints(host_addresses(), data_plane_.interface_name(),
                                          state_->network, options_.listen_port)) {
        out.push_back(e.to_string());
    }
    return out;
}

JoinResult Agent::join(const std::string& coordinator, const std::string& token,
                       const std::string& hostname) {
    Keys keys;
    std::vector<std::string> endpoints;
    {
        std::lock_guard lock(mutex_);
        if (!keys_) keys_ = Keys::generate();  // kept in memory only until a join succeeds
        keys = *keys_;
        NetworkSettings any_network;  // the overlay is not known yet; exclude nothing extra
        for (const auto& e :
             select_endpoints(host_addresses(), data_plane_.interface_name(),
                              state_ ? state_->network : any_network, options_.listen_port)) {
            endpoints.push_back(e.to_string());
        }
    }
    JoinResult result = join_coordinator(coordinator, token, hostname, keys, endpoints);

    std::unique_ptr<SyncClient> old_sync;
    {
        std::lock_guard lock(mutex_);
        old_sync = std::move(sync_);
    }
    if (old_sync) old_sync->stop();

    std::lock_guard lock(mutex_);
    AgentState next;
    next.coordinator = coordinator;
    next.node_id = result.node_id;
    next.hostname = result.hostname;
    next.addresses = result.addresses;
    next.network = result.network;
    if (state_ && state_->node_id == result.node_id && state_->coordinator == coordinator) {
        next.netmap = state_->netmap;  // same node again: keep the map, resume from it
    }
    keys.save(options_.state_dir);
    save_state(options_.state_dir, next);
    state_ = next;
    spdlog::info("event=joined node={} hostname={} coordinator={} address={}", result.node_id,
                 result.hostname, coordinator, result.addresses.front().to_string());
    try {
        data_plane_.up(state_->addresses, state_->network.mtu);
        reconcile_locked("join");
    } catch (const std::exception& e) {
        throw JoinFailure(grpc::StatusCode::FAILED_PRECONDITION,
                          "joined as " + result.hostname + " (" + result.node_id +
                              "), but the WireGuard device could not be set up: " + e.what());
    }
    start_sync_locked();
    return result;
}

void Agent::tick() {
    std::lock_guard lock(mutex_);
    if (!state_ || state_->removed || !data_plane_.is_up()) return;
    auto endpoints = endpoints_locked();
    if (endpoints != reported_endpoints_ && sync_) {
        reported_endpoints_ = endpoints;
        sync_->report_endpoints(endpoints);
        spdlog::info("event=endpoints_changed count={}", endpoints.size());
    }
    try {
        reconcile_locked("periodic");
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=periodic error=\"{}\"", e.what());
    }
}

AgentStatus Agent::status() {
    std::lock_guard lock(mutex_);
    AgentStatus s;
    s.interface_name = data_plane_.interface_name();
    s.driver = data_plane_.driver_name();
    if (keys_) s.public_key = keys_->wireguard_public;
    if (!state_) return s;
    s.joined = !state_->removed;
    s.node_id = state_->node_id;
    s.hostname = state_->hostname;
    s.addresses = state_->addresses;
    s.coordinator = state_->coordinator;
    s.connected = connected_;
    s.netmap_version = state_->netmap.version;
    s.last_error = last_error_;
    std::map<Key, kb::PeerState> device;
    if (data_plane_.is_up()) {
        try {
            for (auto& p : data_plane_.state().peers) device[p.config.public_key] = p;
        } catch (const std::exception& e) {
            s.last_error = std::string("cannot read the device: ") + e.what();
        }
    }
    for (const auto& [id, peer] : state_->netmap.peers) {
        PeerStatus p;
        p.node_id = id;
        p.hostname = peer.hostname;
        p.public_key = peer.public_key;
        p.allowed_ips = peer.allowed_ips;
        p.ready = state_->netmap.ready.contains(id);
        if (auto it = device.find(peer.public_key); it != device.end()) {
            p.endpoint = it->second.config.endpoint;
            p.last_handshake = it->second.last_handshake_sec;
            p.rx_bytes = it->second.rx_bytes;
            p.tx_bytes = it->second.tx_bytes;
        }
        s.peers.push_back(std::move(p));
    }
    return s;
}

}  // namespace mesh::agent
