#pragma once
// The agent's core: who this host is in the mesh, the map it follows, and the device it keeps
// equal to that map. Transport lives in SyncClient and the local API; this class decides.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/agent_metrics.hpp"
#include "agent/agent_status.hpp"
#include "agent/container_network.hpp"
#include "agent/data_plane.hpp"
#include "agent/device_ownership.hpp"
#include "agent/join_client.hpp"
#include "agent/keys.hpp"
#include "agent/netcheck_probe.hpp"
#include "agent/network_loop.hpp"
#include "agent/path_engine.hpp"
#include "agent/relay_proxy.hpp"
#include "agent/state.hpp"
#include "agent/sync_client.hpp"

namespace mesh::agent {

struct AgentOptions {
    std::string state_dir = "/var/lib/mesh-agent";
    std::uint16_t listen_port = 51820;
    DataPlaneOptions data_plane;
    PathConfig paths;
    StunConfig stun;
    // STUN servers ("host:port"); empty = the coordinator's responder (stun_port, stun_port + 1).
    std::vector<std::string> stun_servers;
    bool probing = true;  // false: no STUN, no probes; a peer's first candidate is used
    // Container networking: what a join asks for when meshctl join does not say ("" = keep
    // what the host has), the host side (routes, forwarding, masquerade, the CNI conflist),
    // and ranges beside private-use space a container subnet may come from.
    std::string container_subnet;
    ContainerNetworkOptions containers;
    std::vector<IpPrefix> container_allow;
};

// What meshctl ping learned from one round of probes (Agent::ping).
struct PingOutcome {
    enum class Refusal { none, unknown_peer, not_ready };
    Refusal refusal = Refusal::none;
    std::string message;  // why it was refused
    std::string node_id;
    std::string hostname;
    std::optional<PingAnswer> answer;  // nullopt: nothing answered in time
    std::string selected_path;         // the path in use for the peer now (path_kind_name, relay)
};

// What meshctl logout did (Agent::logout).
struct LogoutOutcome {
    std::string node_id;
    std::string hostname;
    bool removed = false;           // false: forced, the coordinator still has the node
    std::string coordinator_error;  // why it was not removed
};

struct NetcheckReport {
    std::string udp = "unknown";
    std::string nat_type = "unknown";
    std::optional<Endpoint> reflexive;
    std::vector<Endpoint> stun_servers;
    PortMappingProbe port_mapping;
    Ipv6Check ipv6;
    std::string coordinator;
    ConnectTime coordinator_connect;
    bool connected = false;
};

class Agent {
  public:
    explicit Agent(AgentOptions options);
    ~Agent();

    // Loads keys and state; when joined, brings the device up from the saved map (fail static)
    // and starts syncing. Throws mesh::Error for a broken state directory.
    void start();
    void stop();  // stops syncing; the device keeps running only if it was adopted

    // Joins through one of the coordinator's replicas. On failure nothing is written. Throws
    // JoinFailure. coordinators: every replica with its certificate's canonical fingerprint,
    // pinned from now on. container_subnet: as LocalJoinRequest's; "" =
    // AgentOptions::container_subnet.
    JoinResult join(const CoordinatorList& coordinators, const std::string& token,
                    const std::string& hostname, const std::string& container_subnet = {});
    // Starts a WireGuard key rotation: a fresh key is offered to the coordinator and the device
    // switches to it once the map lists it. Returns the new public key. Throws mesh::Error when
    // not joined or not connected.
    Key rotate_key();
    // One round of authenticated path probes to the peer (by hostname, node id or address):
    // to its endpoint in use when that is a working direct path, else to each of its candidates;
    // waits up to `timeout` for the first answer (agent_control.cpp).
    PingOutcome ping(const std::string& peer, std::chrono::milliseconds timeout);
    // meshctl down (true) / up (false): see SetDown in agent.proto. Returns whether it changed;
    // throws mesh::Error when not joined.
    bool set_down(bool down);
    // meshctl logout: Coordinator.Leave, then no peers, no device, no state and no keys; the
    // agent stays running, not joined. Throws mesh::Error when not joined, CoordinatorFailure
    // when the coordinator was not reached or refused (and `force` is not set: then nothing
    // here changed).
    LogoutOutcome logout(bool force);
    // meshctl netcheck (NetcheckResponse in agent.proto); the probes run outside the lock.
    NetcheckReport netcheck();
    AgentStatus status();
    // What it counted since it started (--metrics-listen's /metrics).
    AgentCounters counters();
    // Periodic work: report changed endpoints, rotate a key close to expiry, repair drift in the
    // device.
    void tick();

  private:
    SyncClient::Verdict on_map(const MapUpdate& update);
    void on_ready(const std::vector<std::string>& initiate,
                  const std::vector<std::string>& respond);
    void on_removed();
    // The device, paths, map and Sync from the saved state (start, meshctl up).
    void bring_up_locked(const char* reason);
    // meshctl down, once the threads are stopped: the device without peers, then let go.
    void clear_device_locked();
    // meshctl logout, once the threads are stopped: the device without peers and routes, then
    // deleted; state and keys gone.
    void forget_node_locked();
    void on_relays(const v1::RelayCredentials& relays);
    void on_relay_change();
    bool needs_relay_locked() const;
    bool udp_silent_locked() const;
    void maybe_start_relay_locked();
    // Which peers go through the relay now (no direct path, and both sides have a relayed
    // address): their selections get the proxy's loopback endpoint.
    void apply_relays_locked(std::map<std::string, PathSelection>& paths);
    void report_candidates_locked();
    bool reset_peer_locked(const kb::PeerConfig& peer, const char* reason);
    TimePoint retry_relay_handshakes_locked(TimePoint now);
    void restart_relayed_handshakes_locked(const kb::DeviceConfig& desired,
                                           const kb::DeviceState& current);
    // The allocation once nothing has needed it for kRelayIdleRelease (to stop outside the
    // lock: its thread calls back into us).
    std::unique_ptr<RelayProxy> release_idle_relay_locked(TimePoint now);
    void tick_locked(std::unique_ptr<RelayProxy>& released);
    Key rotate_key_locked(const char* reason);
    void adopt_rotated_key_locked();
    void renew_key_if_due_locked();
    // first: the replica to start on (CoordinatorRotation walks on from it).
    void start_sync_locked(std::size_t first);
    const CoordinatorEntry* sync_coordinator_locked() const;  // nullptr: none known
    void on_sync_status(bool up, const std::string& error, std::size_t replica,
                        std::optional<IpAddress> source);
    void follow_stun_locked(TimePoint now);
    void reconcile_locked(const char* reason);  // counted, then reconcile_device_locked()
    void reconcile_device_locked(const char* reason);
    ContainerPlan container_plan_locked() const;
    void apply_containers_locked(const ContainerPlan& plan);
    void restart_stalled_handshakes_locked(const kb::DeviceConfig& desired,
                                           const kb::DeviceState& current,
                                           const kb::DeviceUpdate& update);
    std::vector<std::string> endpoints_locked();
    void start_paths_locked();
    std::unique_ptr<NetworkLoop> stop_paths_locked();  // the caller stops it outside the lock
    // What runs on threads of its own and calls back into the agent: taken under the lock,
    // stopped outside it.
    struct Workers {
        std::unique_ptr<SyncClient> sync;
        std::unique_ptr<NetworkLoop> loop;
        std::unique_ptr<RelayProxy> relay;
        void stop();
    };
    Workers take_workers_locked();
    void drop_engine_locked();                 // its counters kept in counters_
    bool refresh_local_locked(TimePoint now);  // true when the host's addresses changed
    void after_engine_locked(TimePoint now);
    std::vector<Endpoint> stun_servers_locked();
    DeviceOwner owner_locked(const Keys& keys) const;
    Keys join_keys_locked(const CoordinatorList& coordinators);
    std::unique_ptr<NetworkLoop> roll_back_join_locked(
        const std::optional<AgentState>& previous_state, const std::optional<Keys>& previous_keys,
        bool prepared_here);
    PathReport path_report_locked() const;

    AgentOptions options_;
    DataPlane data_plane_;
    ContainerNetwork containers_;
    ContainerPlan container_plan_;  // applied last
    std::mutex mutex_;
    std::mutex down_mutex_;  // one meshctl down / up / logout at a time
    std::optional<Keys> keys_;
    // Keys made for a join to a coordinator the host is not pinned to (its replicas first),
    // memory only: saved once that join succeeds.
    std::optional<std::pair<CoordinatorList, Keys>> unjoined_keys_;
    // A WireGuard key offered to the coordinator, not yet in the map; memory only (after a crash
    // the map lists a key we lack, and a new rotation recovers).
    struct PendingKey {
        Key private_key;
        Key public_key;
        std::chrono::steady_clock::time_point sent;
    };
    std::optional<PendingKey> pending_key_;
    bool rotation_needed_ = false;
    std::optional<AgentState> state_;
    std::unique_ptr<SyncClient> sync_;
    bool connected_ = false;
    // Indices into state_->coordinators: the replica the stream is on (or last tried), and the
    // one whose STUN responder the path engine asks (it follows the stream only once the old
    // responder stops answering: a new STUN destination is a new mapping behind some NATs).
    std::size_t sync_replica_ = 0;
    std::size_t stun_replica_ = 0;
    std::string last_error_;
    std::vector<std::string> reported_endpoints_;
    std::optional<PathEngine> engine_;   // while joined and probing
    std::unique_ptr<NetworkLoop> loop_;  // its I/O thread
    PathReport sent_report_;
    std::optional<Endpoint> last_reflexive_;
    // Our source address towards the replica the stream is on.
    std::optional<IpAddress> coordinator_source_;
    bool report_pending_ = true;
    std::map<std::string, std::string> logged_paths_;  // node id -> "kind endpoint"
    // TURN relays offered by the coordinator (UDP ones we can use), their expiry and when to
    // ask again; the proxy once a peer needs it; what was reported.
    std::vector<RelayCredential> relay_servers_;
    std::int64_t relay_renew_at_ = 0;
    std::unique_ptr<RelayProxy> relay_;
    std::string reported_relay_;
    NatType reported_nat_ = NatType::unknown;
    std::set<std::string> relayed_peers_;
    std::set<std::string> newly_relayed_;  // since the last reconcile: their handshake restarts
    struct RelayHandshake {
        TimePoint at;  // look again then: no handshake yet means restart it
        int left = 0;  // restarts still allowed
    };
    std::map<std::string, RelayHandshake> relay_handshakes_;  // by node id
    std::optional<TimePoint> relay_idle_since_;  // the proxy relays no peer and none needs it
    AgentCounters counters_;  // paths: the engines dropped so far (counters() adds the running one)
};

}  // namespace mesh::agent
