#include "agent/agent.hpp"

#include <spdlog/spdlog.h>

#include <netdb.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "agent/desired_config.hpp"
#include "agent/host_endpoints.hpp"
#include "agent/join_client.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/relay_url.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::agent {

namespace {

ContainerNetworkOptions container_options(const AgentOptions& options) {
    auto out = options.containers;
    out.mesh_interface = options.data_plane.interface;
    return out;
}

// A direct path that answers now: what beats the relay.
bool is_direct(const PathSelection& sel) {
    return sel.verified && !sel.lost && is_direct_kind(sel.kind);
}

}  // namespace

Agent::Agent(AgentOptions options)
    : options_(options), data_plane_(options.data_plane), containers_(container_options(options)) {}

Agent::~Agent() {
    stop();
}

void Agent::start() {
    std::lock_guard lock(mutex_);
    state_ = load_state(options_.state_dir);
    keys_ = Keys::load(options_.state_dir, state_.has_value());
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
    if (state_->down) {
        spdlog::warn("event=down node={} hint=\"meshctl down left the mesh; run meshctl up\"",
                     state_->node_id);
        return;
    }
    bring_up_locked("start");
}

void Agent::bring_up_locked(const char* reason) {
    // A random replica first (the stream and STUN both start on it): a fleet restarting at once
    // spreads over the replicas.
    if (!state_->coordinators.empty()) {
        sync_replica_ = stun_replica_ =
            replica_order(state_->coordinators.size(), std::nullopt, system_random()).front();
    }
    data_plane_.up(owner_locked(*keys_), state_->addresses, state_->network.mtu);
    if (data_plane_.created_fresh()) {
        // Peers still hold sessions with the device we lost; they would keep sending on them
        // until WireGuard gives up (15 s). So this side starts every handshake right away.
        state_->netmap.initiate = state_->netmap.ready;
    }
    start_paths_locked();
    reconcile_locked(reason);
    start_sync_locked(sync_replica_);
}

Agent::Workers Agent::take_workers_locked() {
    Workers out;
    out.sync = std::move(sync_);
    out.loop = stop_paths_locked();
    out.relay = std::move(relay_);
    return out;
}

void Agent::Workers::stop() {
    if (loop) loop->stop();
    if (sync) sync->stop();
    if (relay) relay->stop();
}

void Agent::stop() {
    Workers workers;
    {
        std::lock_guard lock(mutex_);
        workers = take_workers_locked();
    }
    workers.stop();  // outside the lock: their threads call back into us
    std::lock_guard lock(mutex_);
    data_plane_.down();
}

namespace {

std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

kb::stun::TransactionId random_transaction() {
    kb::stun::TransactionId t;
    randombytes_buf(t.data(), t.size());
    return t;
}

// "host:port" to an IPv4 endpoint (the raw STUN port speaks IPv4); nullopt when unresolvable.
std::optional<Endpoint> resolve_v4(const std::string& host_port,
                                   std::optional<std::uint16_t> port) {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string host = host_port.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') return std::nullopt;  // IPv6 literal
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found) return std::nullopt;
    Endpoint e;
    std::memcpy(e.address.bytes.data(),
                &reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr, 4);
    ::freeaddrinfo(found);
    if (port) {
        e.port = *port;
    } else {
        try {
            e.port = Endpoint::parse("0.0.0.0" + host_port.substr(colon)).port;
        } catch (const Error&) {
            return std::nullopt;
        }
    }
    return e;
}

}  // namespace

std::vector<Endpoint> Agent::stun_servers_locked() {
    std::vector<Endpoint> out;
    for (const auto& s : options_.stun_servers) {
        if (auto e = resolve_v4(s, std::nullopt)) {
            out.push_back(*e);
        } else {
            spdlog::warn("event=stun_server_unresolved server={}", s);
        }
    }
    if (!options_.stun_servers.empty() || state_->network.stun_port == 0) return out;
    // One replica's responder, both its ports: NAT classification compares two answers from one
    // host (a mapping that differs per port is endpoint-dependent); a dead replica in the list
    // would only hold every round up until its timeout.
    if (stun_replica_ >= state_->coordinators.size()) return out;
    auto port = static_cast<std::uint16_t>(state_->network.stun_port);
    if (auto e = resolve_v4(state_->coordinators[stun_replica_].address, port)) {
        out.push_back(*e);
        e->port = static_cast<std::uint16_t>(port + 1);
        out.push_back(*e);
    }
    return out;
}

void Agent::start_paths_locked() {
    if (!options_.probing || engine_ || !keys_) return;
    engine_.emplace(options_.paths, options_.stun, keys_->wireguard_private,
                    keys_->wireguard_public, random_transaction, unix_seconds);
    auto now = Clock::now();
    refresh_local_locked(now);
    auto stun_servers = stun_servers_locked();  // resolved once: DNS, and its warnings
    engine_->set_stun_servers(stun_servers, now);
    const auto* replica = sync_coordinator_locked();
    if (auto to = replica ? resolve_v4(replica->address, std::nullopt) : std::nullopt) {
        coordinator_source_ = route_source(*to);
    }
    NetworkLoop::Handlers h;
    h.on_datagram = [this](const Datagram& d, TimePoint at) {
        std::lock_guard lock(mutex_);
        // Probes that came through the tunnel itself (an overlay source) are no path to a peer.
        if (!engine_ || !state_ || state_->network.ipv4_prefix.contains(d.peer.address)) {
            return std::vector<Datagram>{};
        }
        auto out = engine_->on_datagram(d, at);
        after_engine_locked(at);
        return out;
    };
    h.on_network_change = [this](TimePoint at) {
        std::lock_guard lock(mutex_);
        if (!engine_ || !data_plane_.is_up()) return;
        // The Sync stream's connection used the old source address: replace it now. Other
        // changes (a container bridge, a rotating IPv6 address) leave the stream alone.
        if (refresh_local_locked(at)) {
            const auto* current = sync_coordinator_locked();
            auto coordinator = current ? resolve_v4(current->address, std::nullopt) : std::nullopt;
            auto source = coordinator ? route_source(*coordinator) : std::nullopt;
            if (source != coordinator_source_ && sync_) sync_->reconnect();
            coordinator_source_ = source;
        }
        try {
            // wireguard-go keeps a cached source address until its next handshake; setting the
            // endpoints again makes it pick the new one now. The kernel does the same on its own.
            data_plane_.refresh_endpoints();
        } catch (const std::exception& e) {
            spdlog::error("event=apply_failed reason=network_change error={}",
                          kb::log_quote(e.what()));
        }
        after_engine_locked(at);
    };
    h.on_timer = [this](TimePoint at, TimePoint& next) {
        std::lock_guard lock(mutex_);
        if (!engine_) {
            next = at + std::chrono::seconds(1);
            return std::vector<Datagram>{};
        }
        auto out = engine_->due(at);
        after_engine_locked(at);
        next = std::min(engine_->next_due(), retry_relay_handshakes_locked(at));
        return out;
    };
    try {
        loop_ =
            std::make_unique<NetworkLoop>(options_.listen_port, data_plane_.interface_name(), h);
        loop_->start();
        spdlog::info("event=paths_started port={} stun_servers={}", options_.listen_port,
                     stun_servers.size());
    } catch (const std::exception& e) {
        drop_engine_locked();
        spdlog::warn(
            "event=paths_disabled error={} hint=\"without CAP_NET_RAW no STUN and no path "
            "probes: peers get their first candidate\"",
            kb::log_quote(e.what()));
    }
}

std::unique_ptr<NetworkLoop> Agent::stop_paths_locked() {
    drop_engine_locked();
    return std::move(loop_);
}

void Agent::drop_engine_locked() {
    if (engine_) counters_.paths += engine_->counters();
    engine_.reset();
}

bool Agent::refresh_local_locked(TimePoint now) {
    auto addresses = host_addresses();
    LocalNetwork local;
    local.host_endpoints = select_endpoints(addresses, data_plane_.interface_name(),
                                            state_->network, options_.listen_port);
    local.prefixes = select_prefixes(addresses, data_plane_.interface_name(), state_->network);
    return engine_->set_local(std::move(local), now);
}

PathReport Agent::path_report_locked() const {
    PathReport r;
    r.nat = engine_->nat_type();
    r.reflexive = engine_->reflexive();
    for (const auto& [id, sel] : engine_->selections()) {
        r.peers[id] = {relayed_peers_.contains(id) ? PathKind::relay : sel.kind, sel.endpoint};
    }
    return r;
}

// What a datagram, a timer or a network change did: report new candidates, apply new paths.
void Agent::after_engine_locked(TimePoint now) {
    if (!state_ || state_->removed) return;
    follow_stun_locked(now);
    if (engine_->take_candidates_changed(now)) {
        report_pending_ = true;
        auto endpoints = endpoints_locked();
        auto reflexive = engine_->reflexive();
        spdlog::info("event=candidates_changed count={} nat={} reflexive={}", endpoints.size(),
                     nat_type_name(engine_->nat_type()), reflexive ? reflexive->to_string() : "-");
        // The relay's allocation is bound to the old mapping (its 5-tuple is gone): anew.
        if (relay_) relay_->reallocate();
        report_candidates_locked();
        maybe_start_relay_locked();
        // A new public address means the NAT dropped the stream's connection with the old one.
        if (last_reflexive_ && reflexive && *last_reflexive_ != *reflexive &&
            last_reflexive_->address != reflexive->address && sync_) {
            sync_->reconnect();
        }
        if (reflexive) last_reflexive_ = reflexive;
    }
    bool paths_changed = engine_->take_paths_changed();
    report_pending_ |= paths_changed;
    if (paths_changed) maybe_start_relay_locked();
    if (paths_changed && data_plane_.is_up()) {
        try {
            reconcile_locked("path");
        } catch (const std::exception& e) {
            spdlog::error("event=apply_failed reason=path error={}", kb::log_quote(e.what()));
        }
        for (const auto& [id, sel] : engine_->selections()) {
            auto text = std::string(path_kind_name(sel.kind)) + " " +
                        (sel.endpoint ? sel.endpoint->to_string() : "-") +
                        (sel.lost ? " lost" : "");
            auto& logged = logged_paths_[id];
            if (logged == text) continue;
            logged = text;
            spdlog::info("event=path peer={} path={} endpoint={} rtt_us={} lost={}", id,
                         path_kind_name(sel.kind), sel.endpoint ? sel.endpoint->to_string() : "-",
                         sel.rtt.count(), sel.lost);
        }
    }
    // Built only when something changed (this runs for every datagram), and sent again until a
    // stream took it.
    if (!report_pending_ || !sync_) return;
    auto report = path_report_locked();
    if (report == sent_report_ || sync_->report_paths(report)) {
        sent_report_ = report;
        report_pending_ = false;
    }
}

// The replica the Sync stream is on, or was last tried; nullptr when the state lists none.
const CoordinatorEntry* Agent::sync_coordinator_locked() const {
    if (!state_ || sync_replica_ >= state_->coordinators.size()) return nullptr;
    return &state_->coordinators[sync_replica_];
}

// The STUN responder went silent while the stream is up on another replica: the responder's
// replica is likely gone, so the one serving us is asked instead. While the old one answers it
// stays (towards a new destination some NATs map anew, which would re-report candidates and
// re-allocate a relay for nothing).
void Agent::follow_stun_locked(TimePoint now) {
    if (!engine_ || !connected_ || stun_replica_ == sync_replica_ ||
        !options_.stun_servers.empty() || state_->network.stun_port == 0) {
        return;  // (fixed servers from the command line are not ours to move)
    }
    if (engine_->has_stun_servers() && !engine_->stun_silent()) return;
    const auto* to = sync_coordinator_locked();
    if (!to || stun_replica_ >= state_->coordinators.size()) return;
    spdlog::info("event=stun_failover from={} to={} reason=no_answer",
                 state_->coordinators[stun_replica_].address, to->address);
    stun_replica_ = sync_replica_;
    engine_->set_stun_servers(stun_servers_locked(), now);
}

void Agent::on_sync_status(bool up, const std::string& error, std::size_t replica,
                           std::optional<IpAddress> source) {
    std::lock_guard lock(mutex_);
    connected_ = up;
    sync_replica_ = replica;
    ++(up ? counters_.sync_connects : counters_.sync_failures);
    if (!up) last_error_ = error;
    if (!up) return;
    last_error_.clear();
    if (source) coordinator_source_ = source;  // the route-source check follows this replica
    // The relayed address may have changed while the stream was down: report it again, now (a
    // relayed pair whose peer waits for it has no other path).
    reported_relay_ = "?";
    report_candidates_locked();
    follow_stun_locked(Clock::now());
}

void Agent::start_sync_locked(std::size_t first) {
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
    // The source address towards the replica is looked up here, outside the agent's lock (DNS).
    h.on_status = [this, coordinators = state_->coordinators](bool up, const std::string& error,
                                                              std::size_t replica) {
        std::optional<IpAddress> source;
        if (up && replica < coordinators.size()) {
            if (auto to = resolve_v4(coordinators[replica].address, std::nullopt)) {
                source = route_source(*to);
            }
        }
        on_sync_status(up, error, replica, source);
    };
    h.on_removed = [this] { on_removed(); };
    h.on_relays = [this](const v1::RelayCredentials& relays) { on_relays(relays); };
    h.paths = [this] {
        std::lock_guard lock(mutex_);
        sent_report_ = engine_ ? path_report_locked() : PathReport{};
        return sent_report_;
    };
    const bool unpinned =
        std::any_of(state_->coordinators.begin(), state_->coordinators.end(),
                    [](const CoordinatorEntry& c) { return c.fingerprint.empty(); });
    if (state_->coordinators.empty() || unpinned) {
        last_error_ =
            "no pinned coordinator certificate in the state (joined with an older version); run "
            "meshctl join again with --fingerprint";
        spdlog::error("event=sync_disabled reason={}", kb::log_quote(last_error_));
        return;
    }
    sync_replica_ = first < state_->coordinators.size() ? first : 0;
    sync_ = std::make_unique<SyncClient>(state_->coordinators, sync_replica_, state_->node_id,
                                         *keys_, h);
    sync_->start();
}

void Agent::reconcile_locked(const char* reason) {
    ++counters_.reconciles[reason];
    try {
        reconcile_device_locked(reason);
    } catch (...) {
        ++counters_.reconcile_failures;
        throw;
    }
}

void Agent::reconcile_device_locked(const char* reason) {
    DeviceIdentity identity{keys_->wireguard_private, options_.listen_port};
    auto current = data_plane_.state();
    std::map<Key, std::string> id_of;
    for (const auto& [id, peer] : state_->netmap.peers) id_of[peer.public_key] = id;
    std::map<std::string, PathSelection> paths;
    if (engine_) {
        auto now = Clock::now();
        engine_->set_peers(state_->netmap, now);
        for (const auto& p : current.peers) {
            if (auto it = id_of.find(p.config.public_key); it != id_of.end()) {
                engine_->observe_device(it->second, p.config.endpoint, now);
                engine_->traffic(it->second, p.rx_bytes + p.tx_bytes, now);
            }
        }
        paths = engine_->selections();
        apply_relays_locked(paths);
        if (loop_) loop_->wake();  // new peers or candidates: probe them now
    }
    std::set<Key> established;
    for (const auto& p : current.peers) {
        if (p.last_handshake_sec != 0) established.insert(p.config.public_key);
    }
    auto plan = container_plan_locked();
    auto desired = desired_config(state_->netmap, state_->network, identity, established,
                                  engine_ ? &paths : nullptr, &plan);
    auto update = data_plane_.apply(desired, current);
    apply_containers_locked(plan);
    restart_stalled_handshakes_locked(desired, current, update);
    restart_relayed_handshakes_locked(desired, current);
    if (engine_) {
        for (const auto& p : desired.peers) engine_->applied(id_of[p.public_key], p.endpoint);
    }
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
    counters_.peers_added += added;
    counters_.peers_changed += changed;
    counters_.peers_removed += removed;
    spdlog::info(
        "event=reconciled reason={} version={} peers_added={} peers_changed={} "
        "peers_removed={}",
        reason, state_->netmap.version, added, changed, removed);
}

// The host's own subnets: the map's self entry once the map has one (the coordinator may change
// them), the join's answer before that; none once the node was removed.
ContainerPlan Agent::container_plan_locked() const {
    ContainerPlanInput input;
    if (!state_->removed) {
        input.own = state_->netmap.self ? state_->netmap.self->container_subnets
                                        : state_->container_subnets;
    }
    input.host_addresses = host_addresses();
    input.ignored_interfaces = {data_plane_.interface_name(), containers_.options().cni.bridge};
    input.allowed = options_.container_allow;
    return plan_containers(state_->netmap, state_->network, input);
}

// After the device took the allowed IPs: routes (so no packet is routed to a peer that would
// not accept it), then the host's own side. A failure here leaves the tunnels as they are and
// is tried again on the next reconcile (at the latest the periodic one).
void Agent::apply_containers_locked(const ContainerPlan& plan) {
    if (plan.refused != container_plan_.refused) {
        for (const auto& line : plan.refused)
            spdlog::warn("event=container_subnet_refused {}", line);
    }
    try {
        containers_.apply(plan, state_->network.mtu);
    } catch (const std::exception& e) {
        spdlog::error("event=container_apply_failed error={}", kb::log_quote(e.what()));
    }
    container_plan_ = plan;
}

// TURN relays the coordinator offers (tried in relay_try_order's order when a proxy starts or
// takes new credentials); their host an IPv4 address or a name resolved now, once per
// credential renewal. Asked for again when a third of their lifetime is left.
void Agent::on_relays(const v1::RelayCredentials& relays) {
    std::vector<RelayCredential> usable;
    for (const auto& server : relays.servers()) {
        kb::RelayUrl url;
        try {
            url = kb::parse_relay_url(server.url());
        } catch (const std::exception& e) {
            spdlog::warn("event=relay_skipped error={}", kb::log_quote(e.what()));
            continue;
        }
        if (url.host.find(':') != std::string::npos) continue;  // IPv6 relays: not yet
        auto endpoint = resolve_v4(url.host + ":" + std::to_string(url.port), url.port);
        if (!endpoint) continue;
        RelayCredential c;
        c.server = *endpoint;
        c.username = server.username();
        c.password = server.password();
        c.transport = url.tls   ? RelayTransportKind::tls
                      : url.tcp ? RelayTransportKind::tcp
                                : RelayTransportKind::udp;
        c.tls_name = url.host;
        c.tls_fingerprint = server.tls_fingerprint();
        usable.push_back(std::move(c));
    }
    const auto unix_now = unix_seconds();
    std::lock_guard lock(mutex_);
    relay_servers_ = std::move(usable);
    relay_renew_at_ = relays.expires_at() > unix_now
                          ? relays.expires_at() - (relays.expires_at() - unix_now) / 3
                          : 0;
    spdlog::info("event=relays_offered servers={} usable={} renew_at={}", relays.servers_size(),
                 relay_servers_.size(), relay_renew_at_);
    if (relay_ && !relay_servers_.empty()) {
        relay_->set_servers(relay_try_order(relay_servers_, udp_silent_locked()));
    }
    maybe_start_relay_locked();
}

// STUN servers were asked and none ever answered: this host's UDP most likely does not get
// out, so a relay over UDP would only time out first.
bool Agent::udp_silent_locked() const {
    return engine_ && engine_->has_stun_servers() && !engine_->reflexive();
}

// A relay is worth its allocation once this host's NAT maps per destination (no peer behind
// another such NAT can reach it directly), a peer was found to have no direct path, or a peer
// behind such a NAT offers a relayed address and has no direct path yet (it is relayed to at
// once, the direct path looked for meanwhile).
bool Agent::needs_relay_locked() const {
    if (relay_servers_.empty() || !engine_ || !state_ || state_->removed) return false;
    if (engine_->nat_type() == NatType::endpoint_dependent) return true;
    const auto selections = engine_->selections();
    for (const auto& [id, sel] : selections) {
        if (sel.kind == PathKind::none || sel.lost) return true;
    }
    for (const auto& [id, peer] : state_->netmap.peers) {
        if (!peer.nat_endpoint_dependent || !peer.relay_endpoint) continue;
        auto it = selections.find(id);
        if (it == selections.end() || !is_direct(it->second)) return true;
    }
    return false;
}

void Agent::maybe_start_relay_locked() {
    if (relay_ || !needs_relay_locked()) return;
    try {
        auto servers = relay_try_order(relay_servers_, udp_silent_locked());
        const std::string first = relay_server_text(servers.front());
        relay_ = std::make_unique<RelayProxy>(std::move(servers), options_.listen_port,
                                              [this] { on_relay_change(); });
        relay_->start();
        spdlog::info("event=relay_started servers={} first={}", relay_servers_.size(),
                     kb::log_quote(first));
    } catch (const std::exception& e) {
        relay_.reset();
        spdlog::error("event=relay_failed error={}", kb::log_quote(e.what()));
    }
}

// On the proxy's thread: the allocation came up, moved or failed.
void Agent::on_relay_change() {
    std::lock_guard lock(mutex_);
    if (!state_ || state_->removed || !data_plane_.is_up()) return;
    report_candidates_locked();
    try {
        reconcile_locked("relay");
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=relay error={}", kb::log_quote(e.what()));
    }
}

void Agent::apply_relays_locked(std::map<std::string, PathSelection>& paths) {
    std::map<std::string, Endpoint> wanted;
    RelayProxy::Status relay_status;
    if (relay_) relay_status = relay_->status();
    if (relay_ && relay_status.state == RelayAllocation::State::allocated) {
        const bool hard = engine_ && engine_->nat_type() == NatType::endpoint_dependent;
        for (const auto& [id, peer] : state_->netmap.peers) {
            if (!peer.relay_endpoint) continue;
            auto it = paths.find(id);
            // A direct path that stopped answering (lost) falls back to the relay at once;
            // probing goes on, and the first direct answer takes the pair back.
            // So does a peer behind an endpoint-dependent NAT: at once, while still probing.
            const bool lost = it != paths.end() && it->second.lost;
            const bool direct = it != paths.end() && is_direct(it->second);
            const bool none = it != paths.end() && it->second.kind == PathKind::none;
            if (!direct && (hard || peer.nat_endpoint_dependent || none || lost)) {
                wanted[id] = *peer.relay_endpoint;
            }
        }
    }
    std::set<std::string> relayed;
    if (relay_) {
        for (const auto& [id, local] : relay_->set_peers(wanted)) {
            // Handed to the relay once its channel (and permission) is there: a packet sent
            // before would be dropped by the server, and WireGuard would wait 5 s to retry.
            if (!relay_status.ready.contains(wanted[id])) continue;
            auto& sel = paths[id];
            sel.endpoint = local;
            sel.verified = true;  // initiate at once: the relay is there
            relayed.insert(id);
        }
    }
    if (relayed != relayed_peers_) report_pending_ = true;  // the coordinator counts relayed pairs
    newly_relayed_.clear();
    for (const auto& id : relayed) {
        if (relayed_peers_.contains(id)) continue;
        spdlog::info("event=path peer={} path=relay", id);
        newly_relayed_.insert(id);
    }
    relayed_peers_ = std::move(relayed);
}

void Agent::report_candidates_locked() {
    if (!sync_ || !state_ || state_->removed) return;
    auto endpoints = endpoints_locked();
    std::string relay;
    if (relay_) {
        auto st = relay_->status();
        if (st.state == RelayAllocation::State::allocated && st.relayed) {
            relay = st.relayed->to_string();
        }
    }
    const NatType nat = engine_ ? engine_->nat_type() : NatType::unknown;
    if (endpoints == reported_endpoints_ && relay == reported_relay_ && nat == reported_nat_)
        return;
    if (!sync_->report_endpoints(endpoints, relay, nat)) return;  // again at the next tick
    reported_endpoints_ = endpoints;
    reported_relay_ = relay;
    reported_nat_ = nat;
    spdlog::info("event=endpoints_changed count={} relay={} nat={}", endpoints.size(),
                 relay.empty() ? "-" : relay, nat_type_name(nat));
}

// A peer this side initiates to, whose keepalive (the start of the handshake) goes on only now,
// and whose device entry already sent an initiation that got no answer (traffic came before the
// path was verified, so it went to a candidate that does not answer): WireGuard would retry only
// after its 5 s REKEY_TIMEOUT. Put back, the peer initiates at once, to the verified endpoint.
void Agent::restart_stalled_handshakes_locked(const kb::DeviceConfig& desired,
                                              const kb::DeviceState& current,
                                              const kb::DeviceUpdate& update) {
    for (const auto& u : update.peers) {
        if (u.remove || !u.persistent_keepalive || *u.persistent_keepalive == 0) continue;
        auto was = std::find_if(current.peers.begin(), current.peers.end(),
                                [&](const auto& p) { return p.config.public_key == u.public_key; });
        if (was == current.peers.end() || was->last_handshake_sec != 0 || was->tx_bytes == 0 ||
            was->config.persistent_keepalive != 0) {
            continue;
        }
        auto want = std::find_if(desired.peers.begin(), desired.peers.end(),
                                 [&](const auto& p) { return p.public_key == u.public_key; });
        if (want == desired.peers.end()) continue;
        reset_peer_locked(*want, "stalled");
    }
}

// A peer just moved onto the relay without a live session: an initiation WireGuard sent on the
// old path got no answer and would be retried only after its 5 s REKEY_TIMEOUT. Put back, the
// peer initiates at once. A pair whose session is alive (a direct path that died and fell back)
// keeps it: the next packet simply leaves for the new endpoint, with no handshake.
// The two sides turn to the relay independently, within milliseconds of each other; an
// initiation that reaches the relay before the other side's permission (or its proxy) is there
// is dropped, and traffic on the other side may have sent an initiation that crossed ours, so a
// handshake that has not happened a second later is restarted by the initiator, at most
// kRelayHandshakeRetries times, a second apart (then WireGuard's own 5 s retries go on).
constexpr auto kRelayHandshakeRetry = std::chrono::seconds(1);
constexpr int kRelayHandshakeRetries = 3;

void Agent::restart_relayed_handshakes_locked(const kb::DeviceConfig& desired,
                                              const kb::DeviceState& current) {
    // (A peer that left the relay keeps its entry: a direct path found by prediction within
    // the first second may have come while the handshake was under way through the relay.)
    for (auto it = relay_handshakes_.begin(); it != relay_handshakes_.end();) {
        it = state_->netmap.peers.contains(it->first) ? std::next(it) : relay_handshakes_.erase(it);
    }
    if (newly_relayed_.empty()) return;
    constexpr std::int64_t kRejectAfterTime = 180;  // WireGuard's session lifetime, seconds
    const auto unix_now = unix_seconds();
    std::set<Key> live;
    for (const auto& p : current.peers) {
        if (p.last_handshake_sec != 0 && unix_now - p.last_handshake_sec < kRejectAfterTime) {
            live.insert(p.config.public_key);
        }
    }
    const auto now = Clock::now();
    for (const auto& id : newly_relayed_) {
        auto peer = state_->netmap.peers.find(id);
        if (peer == state_->netmap.peers.end() || live.contains(peer->second.public_key)) continue;
        // Looked at again in a second whichever side initiates, and whether or not the device
        // has the peer yet: both sides' traffic may have started crossing initiations (each
        // side then drops the other's response), which only a restart resolves before 5 s.
        relay_handshakes_[id] = {now + kRelayHandshakeRetry, kRelayHandshakeRetries};
        if (loop_) loop_->wake();  // its timer picks up the retry
        auto p = std::find_if(desired.peers.begin(), desired.peers.end(), [&](const auto& d) {
            return d.public_key == peer->second.public_key;
        });
        // The initiator, with the peer on the device already (one added now initiates anyway).
        if (p != desired.peers.end() && p->persistent_keepalive != 0)
            reset_peer_locked(*p, "relayed");
    }
    newly_relayed_.clear();
}

bool Agent::reset_peer_locked(const kb::PeerConfig& peer, const char* reason) {
    try {
        data_plane_.reset_peer(peer);
        spdlog::info("event=handshake_restarted public_key={} reason={}",
                     peer.public_key.to_base64(), reason);
        return true;
    } catch (const std::exception& e) {
        spdlog::warn("event=handshake_restart_failed error={}", kb::log_quote(e.what()));
        return false;
    }
}

// From the network loop's timer: relayed peers whose restarted handshake has not happened yet.
// Returns when to be called again (TimePoint::max() when nothing waits).
TimePoint Agent::retry_relay_handshakes_locked(TimePoint now) {
    auto next = TimePoint::max();
    if (relay_handshakes_.empty() || !data_plane_.is_up() || !state_) return next;
    bool due = false;
    for (const auto& [id, r] : relay_handshakes_) due |= r.at <= now;
    if (due) {
        const auto current = data_plane_.state();
        for (auto it = relay_handshakes_.begin(); it != relay_handshakes_.end();) {
            auto& [id, r] = *it;
            if (r.at > now) {
                ++it;
                continue;
            }
            auto peer = state_->netmap.peers.find(id);
            auto dev =
                peer == state_->netmap.peers.end()
                    ? current.peers.end()
                    : std::find_if(current.peers.begin(), current.peers.end(), [&](const auto& p) {
                          return p.config.public_key == peer->second.public_key;
                      });
            // Done (the handshake happened) or out of retries.
            if ((dev != current.peers.end() && dev->last_handshake_sec != 0) || r.left == 0) {
                it = relay_handshakes_.erase(it);
                continue;
            }
            // Only the initiator restarts: the other side waits for its initiation.
            if (dev != current.peers.end() && dev->config.persistent_keepalive != 0) {
                reset_peer_locked(dev->config, "relayed_retry");
            }
            --r.left;
            r.at = now + kRelayHandshakeRetry;
            ++it;
        }
    }
    for (const auto& [id, r] : relay_handshakes_) next = std::min(next, r.at);
    return next;
}

SyncClient::Verdict Agent::on_map(const MapUpdate& update) {
    std::lock_guard lock(mutex_);
    if (!state_) return SyncClient::Verdict::resync;
    auto result = apply_update(state_->netmap, update, state_->node_id);
    if (result == ApplyResult::gap) return SyncClient::Verdict::resync;
    if (result == ApplyResult::self_removed) return SyncClient::Verdict::removed;
    ++(update.full ? counters_.full_maps : counters_.deltas);
    try {
        adopt_rotated_key_locked();
        maybe_start_relay_locked();  // a peer behind an endpoint-dependent NAT may have come
        reconcile_locked(update.full ? "full_map" : "delta");
        save_state(options_.state_dir, *state_);
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed version={} error={}", update.version,
                      kb::log_quote(e.what()));
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
        spdlog::error("event=apply_failed reason=peers_ready error={}", kb::log_quote(e.what()));
    }
}

void Agent::on_removed() {
    std::lock_guard lock(mutex_);
    if (!state_) return;
    spdlog::warn(
        "event=removed node={} hint=\"the operator removed this node or expired its key; run "
        "meshctl join "
        "to rejoin\"",
        state_->node_id);
    state_->removed = true;
    // The map is gone, not just emptied: a later join must ask for the whole map again, or a
    // resume from this version would never send back the peers that did not change since.
    state_->netmap.version = 0;
    state_->netmap.peers.clear();
    state_->netmap.ready.clear();
    state_->netmap.initiate.clear();
    connected_ = false;
    last_error_ =
        "this node was removed by the operator, or its key expired; run meshctl join to rejoin";
    try {
        reconcile_locked("removed");
        save_state(options_.state_dir, *state_);
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=removed error={}", kb::log_quote(e.what()));
    }
}

std::vector<std::string> Agent::endpoints_locked() {
    std::vector<std::string> out;
    if (!state_) return out;
    auto endpoints = engine_ ? engine_->candidates()
                             : select_endpoints(host_addresses(), data_plane_.interface_name(),
                                                state_->network, options_.listen_port);
    for (const auto& e : endpoints) out.push_back(e.to_string());
    return out;
}

Key Agent::rotate_key() {
    std::lock_guard lock(mutex_);
    if (!state_ || state_->removed || !keys_) throw Error("not joined: run meshctl join first");
    if (!sync_ || !connected_) {
        throw Error("not connected to the coordinator (" +
                    (last_error_.empty() ? std::string("connecting") : last_error_) +
                    "); the key can be rotated only while syncing");
    }
    return rotate_key_locked("operator");
}

Key Agent::rotate_key_locked(const char* reason) {
    PendingKey next;
    auto fresh = Keys::generate();
    next.private_key = fresh.wireguard_private;
    next.public_key = fresh.wireguard_public;
    next.sent = std::chrono::steady_clock::now();
    if (!sync_ || !sync_->rotate_key(next.public_key)) {
        throw Error("the Sync stream closed; try again once connected");
    }
    pending_key_ = next;
    rotation_needed_ = false;
    spdlog::info("event=key_rotation_sent reason={} public_key={}", reason,
                 next.public_key.to_base64());
    return next.public_key;
}

// The map's own record names this node's WireGuard key: when it is the pending one, the device
// switches to it now (peers get it in the same map version); when it is neither, this host lost
// the matching private key (a crash mid-rotation) and rotates again.
void Agent::adopt_rotated_key_locked() {
    if (!state_->netmap.self || !keys_) return;
    const Key& listed = state_->netmap.self->public_key;
    if (listed == keys_->wireguard_public) return;
    if (pending_key_ && listed == pending_key_->public_key) {
        keys_->wireguard_private = pending_key_->private_key;
        keys_->wireguard_public = pending_key_->public_key;
        keys_->save(options_.state_dir);
        pending_key_.reset();
        if (engine_) engine_->set_own_key(keys_->wireguard_private, keys_->wireguard_public);
        spdlog::info("event=key_rotated public_key={} expires_at={}",
                     keys_->wireguard_public.to_base64(), state_->netmap.self->key_expires_at);
        return;
    }
    if (!pending_key_) {
        spdlog::warn("event=key_mismatch listed={} hint=\"rotating to a fresh key\"",
                     listed.to_base64());
        rotation_needed_ = true;
    }
}

void Agent::renew_key_if_due_locked() {
    if (!sync_ || !connected_ || !state_->netmap.self) return;
    if (pending_key_ &&
        std::chrono::steady_clock::now() - pending_key_->sent < std::chrono::seconds(30)) {
        return;  // still waiting for the map to list it
    }
    const auto expires = state_->netmap.self->key_expires_at;
    const auto ttl = static_cast<std::int64_t>(state_->network.node_key_ttl);
    const bool due = expires != 0 && ttl != 0 && unix_seconds() >= expires - ttl / 3;
    if (!due && !rotation_needed_ && !pending_key_) return;
    try {
        rotate_key_locked(rotation_needed_ ? "key_mismatch" : pending_key_ ? "retry" : "expiry");
    } catch (const Error& e) {
        spdlog::warn("event=key_rotation_failed error={}", kb::log_quote(e.what()));
    }
}

DeviceOwner Agent::owner_locked(const Keys& keys) const {
    return {owner_alias(keys.machine_public), keys.wireguard_private};
}

// The keys a join to the coordinators pinned as in `coordinators` uses: the host's own for the
// mesh it is pinned to (a certificate in common); for any other, keys of its own, kept in memory
// (and reused by a retry to the same mesh) until a join to it succeeds.
Keys Agent::join_keys_locked(const CoordinatorList& coordinators) {
    if (keys_ && keys_reusable_for(state_, coordinators)) return *keys_;
    if (!unjoined_keys_ || !shares_fingerprint(unjoined_keys_->first, coordinators)) {
        if (state_) {
            spdlog::info("event=fresh_keys reason=another_coordinator fingerprint={}",
                         format_fingerprints(coordinators));
        }
        unjoined_keys_.emplace(coordinators, Keys::generate());
    }
    return unjoined_keys_->second;
}

JoinResult Agent::join(const CoordinatorList& coordinators, const std::string& token,
                       const std::string& hostname, const std::string& container_subnet) {
    Keys keys;
    std::vector<std::string> endpoints;
    bool prepared_here = false;
    {
        std::lock_guard lock(mutex_);
        keys = join_keys_locked(coordinators);
        // The device first: when it cannot be set up, the coordinator never hears of this host.
        if (!data_plane_.is_up()) {
            try {
                data_plane_.prepare(owner_locked(keys));
                prepared_here = true;
            } catch (const std::exception& e) {
                data_plane_.abandon();
                throw JoinFailure(grpc::StatusCode::FAILED_PRECONDITION,
                                  std::string("the WireGuard device cannot be set up (nothing was "
                                              "sent to the coordinator): ") +
                                      e.what());
            }
        }
        NetworkSettings any_network;  // the overlay is not known yet; exclude nothing extra
        for (const auto& e :
             select_endpoints(host_addresses(), data_plane_.interface_name(),
                              state_ ? state_->network : any_network, options_.listen_port)) {
            endpoints.push_back(e.to_string());
        }
    }
    JoinResult result;
    try {
        result = join_coordinator(
            coordinators, token, hostname, keys, endpoints,
            container_subnet.empty() ? options_.container_subnet : container_subnet);
    } catch (...) {
        std::lock_guard lock(mutex_);
        if (prepared_here) data_plane_.abandon();
        throw;
    }

    std::unique_ptr<SyncClient> old_sync;
    {
        std::lock_guard lock(mutex_);
        old_sync = std::move(sync_);
    }
    if (old_sync) old_sync->stop();

    std::unique_ptr<NetworkLoop> retired;  // stopped after the lock is released (its thread locks)
    std::lock_guard lock(mutex_);
    AgentState next;
    next.coordinators = coordinators;
    next.node_id = result.node_id;
    next.hostname = result.hostname;
    next.addresses = result.addresses;
    next.network = result.network;
    // Same node of the same mesh again (replicas may have been added or replaced): keep the
    // map, resume from it.
    if (state_ && state_->node_id == result.node_id &&
        shares_fingerprint(state_->coordinators, coordinators)) {
        next.netmap = state_->netmap;
    }
    next.container_subnets = result.container_subnets;
    if (next.netmap.self) next.netmap.self->container_subnets = result.container_subnets;
    auto previous_state = state_;
    auto previous_keys = keys_;
    const auto previous_replicas = std::make_pair(sync_replica_, stun_replica_);
    try {
        state_ = next;
        keys_ = keys;
        // Stream and STUN start on the replica that took the join: it is known to be up.
        sync_replica_ = stun_replica_ = result.replica;
        data_plane_.up(owner_locked(keys), state_->addresses, state_->network.mtu);
        if (engine_) {
            engine_->set_own_key(keys.wireguard_private, keys.wireguard_public);
            engine_->set_stun_servers(stun_servers_locked(), Clock::now());
        } else {
            start_paths_locked();
        }
        reconcile_locked("join");
        // Written only now that the device took the join: a failure leaves no half state.
        keys.save(options_.state_dir);
        save_state(options_.state_dir, next);
    } catch (const std::exception& e) {
        std::tie(sync_replica_, stun_replica_) = previous_replicas;
        retired = roll_back_join_locked(previous_state, previous_keys, prepared_here);
        throw JoinFailure(grpc::StatusCode::FAILED_PRECONDITION,
                          "the coordinator accepted " + result.hostname + " (" + result.node_id +
                              "), but the WireGuard device did not take it: " + e.what() +
                              "; nothing was saved here, and joining again (same token, once "
                              "that is fixed) gets the same node back");
    }
    unjoined_keys_.reset();
    std::string subnets;
    for (const auto& c : result.container_subnets)
        subnets += (subnets.empty() ? "" : ",") + c.to_string();
    spdlog::info(
        "event=joined node={} hostname={} coordinator={} coordinators={} address={} ipv6={} "
        "container_subnets={}",
        result.node_id, result.hostname, coordinators[result.replica].address,
        format_addresses(coordinators), result.addresses.front().to_string(),
        data_plane_.ipv6_disabled() ? "disabled" : "on", subnets.empty() ? "none" : subnets);
    start_sync_locked(result.replica);
    return result;
}

// A join the device did not take: back to what the agent had before, on disk and on the device.
// Returns the path engine's loop when it has to stop (the caller stops it outside the lock).
std::unique_ptr<NetworkLoop> Agent::roll_back_join_locked(
    const std::optional<AgentState>& previous_state, const std::optional<Keys>& previous_keys,
    bool prepared_here) {
    state_ = previous_state;
    keys_ = previous_keys;
    try {
        if (keys_) keys_->save(options_.state_dir);  // unchanged files are not rewritten
        if (state_) save_state(options_.state_dir, *state_);
    } catch (const std::exception& e) {
        spdlog::error("event=join_rollback_failed error={}", kb::log_quote(e.what()));
    }
    if (prepared_here || !state_ || !keys_) {
        auto loop = stop_paths_locked();
        data_plane_.abandon();
        return loop;
    }
    if (engine_) engine_->set_own_key(keys_->wireguard_private, keys_->wireguard_public);
    if (state_->removed) return nullptr;
    try {
        data_plane_.up(owner_locked(*keys_), state_->addresses, state_->network.mtu);
        reconcile_locked("join_rolled_back");
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=join_rolled_back error={}",
                      kb::log_quote(e.what()));
    }
    start_sync_locked(sync_replica_);
    return nullptr;
}

void Agent::tick() {
    std::unique_ptr<RelayProxy> released;
    {
        std::lock_guard lock(mutex_);
        tick_locked(released);
    }
    if (released) released->stop();  // outside the lock: its thread calls back into us
}

// An allocation costs the relay a port and refreshes; it is given back once no peer has been
// relayed and none needed it for this long (a fallback within it finds the allocation ready).
constexpr auto kRelayIdleRelease = std::chrono::seconds(60);

std::unique_ptr<RelayProxy> Agent::release_idle_relay_locked(TimePoint now) {
    if (!relay_ || !relayed_peers_.empty() || needs_relay_locked()) {
        relay_idle_since_.reset();
        return nullptr;
    }
    if (!relay_idle_since_) relay_idle_since_ = now;
    if (now - *relay_idle_since_ < kRelayIdleRelease) return nullptr;
    relay_idle_since_.reset();
    spdlog::info("event=relay_released relayed={} idle_s={}",
                 relay_->status().relayed ? relay_->status().relayed->to_string() : "-",
                 kRelayIdleRelease.count());
    auto released = std::move(relay_);
    report_candidates_locked();  // the relayed address leaves the map
    return released;
}

void Agent::tick_locked(std::unique_ptr<RelayProxy>& released) {
    if (!state_ || state_->removed || state_->down || !data_plane_.is_up()) return;
    released = release_idle_relay_locked(Clock::now());
    if (engine_) {
        refresh_local_locked(Clock::now());  // in case an rtnetlink event was missed
        // No STUN server resolved (DNS not up at start?): try again.
        if (!engine_->has_stun_servers())
            engine_->set_stun_servers(stun_servers_locked(), Clock::now());
    }
    if (data_plane_.ipv6_disabled()) {
        try {
            // Takes the IPv6 address as soon as the host enables IPv6 (within a tick).
            data_plane_.up(owner_locked(*keys_), state_->addresses, state_->network.mtu);
        } catch (const std::exception& e) {
            spdlog::error("event=apply_failed reason=addresses error={}", kb::log_quote(e.what()));
        }
    }
    renew_key_if_due_locked();
    const auto unix_now = unix_seconds();
    if (relay_renew_at_ != 0 && unix_now >= relay_renew_at_ && sync_) {
        sync_->request_relays();
        relay_renew_at_ = unix_now + 60;  // until the answer moves it on
    }
    maybe_start_relay_locked();
    report_candidates_locked();
    try {
        reconcile_locked("periodic");
    } catch (const std::exception& e) {
        spdlog::error("event=apply_failed reason=periodic error={}", kb::log_quote(e.what()));
    }
}

AgentCounters Agent::counters() {
    std::lock_guard lock(mutex_);
    auto out = counters_;
    if (engine_) out.paths += engine_->counters();
    return out;
}

AgentStatus Agent::status() {
    std::lock_guard lock(mutex_);
    AgentStatus s;
    s.interface_name = data_plane_.interface_name();
    s.driver = data_plane_.driver_name();
    s.ipv6_disabled = data_plane_.is_up() && data_plane_.ipv6_disabled();
    if (keys_) s.public_key = keys_->wireguard_public;
    if (!state_) return s;
    s.joined = !state_->removed;
    s.down = state_->down;
    s.node_id = state_->node_id;
    s.hostname = state_->hostname;
    s.addresses = state_->addresses;
    s.coordinators = state_->coordinators;
    s.current = sync_replica_;
    if (state_->netmap.self) {
        s.tags = state_->netmap.self->tags;
        s.key_expires_at = state_->netmap.self->key_expires_at;
    }
    s.container_subnets = container_plan_.own;
    s.container_refused = container_plan_.refused;
    if (!container_plan_.own.empty() && !containers_.options().cni_conf_dir.empty()) {
        s.cni_config = cni_conflist_path(containers_.options().cni_conf_dir,
                                         containers_.options().cni.network_name);
    }
    if (relay_) {
        auto st = relay_->status();
        const std::string via = st.server.empty() ? "" : " via " + st.server;
        if (st.state == RelayAllocation::State::allocated && st.relayed) {
            s.relay = "allocated " + st.relayed->to_string() + via + " (packets relayed " +
                      std::to_string(st.packets_to_relay) + " out, " +
                      std::to_string(st.packets_from_relay) + " in, " + std::to_string(st.dropped) +
                      " dropped)";
        } else if (st.state == RelayAllocation::State::failed) {
            s.relay = "failed: " + st.error;
        } else {
            s.relay = "allocating" + via;
        }
    } else if (!relay_servers_.empty()) {
        s.relay = "offered, not needed yet";
    }
    s.connected = connected_;
    s.netmap_version = state_->netmap.version;
    s.last_error = last_error_;
    std::map<std::string, PathSelection> paths;
    if (engine_) {
        paths = engine_->selections();
        s.nat_type = nat_type_name(engine_->nat_type());
        s.reflexive = engine_->reflexive();
        s.candidates = engine_->candidates();
    }
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
        p.candidates = peer.endpoints;
        if (auto it = container_plan_.peers.find(id); it != container_plan_.peers.end()) {
            p.container_subnets = it->second;
        }
        if (auto it = paths.find(id); it != paths.end()) {
            p.path = path_kind_name(it->second.kind);
            p.rtt_us = static_cast<std::uint32_t>(it->second.rtt.count());
        }
        if (relayed_peers_.contains(id)) p.path = "relay";
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
