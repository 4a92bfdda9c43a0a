#include "coordinator/server.hpp"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "coordinator/admin_service.hpp"
#include "coordinator/container_subnets.hpp"
#include "coordinator/convert.hpp"
#include "coordinator/coordinator_metrics.hpp"
#include "coordinator/coordinator_service.hpp"
#include "coordinator/etcd_store.hpp"
#include "coordinator/fanout/fanout.hpp"
#include "coordinator/ipam.hpp"
#include "coordinator/replication.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/store_health.hpp"
#include "coordinator/store_probe.hpp"
#include "coordinator/store_url.hpp"
#include "coordinator/stun_responder.hpp"
#include "coordinator/timed_store.hpp"
#include "coordinator/tls_identity.hpp"
#include "coordinator/web/observer.hpp"
#include "kmod-bridge/daemon/systemd_notify.hpp"
#include "kmod-bridge/dir_lock.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "kmod-bridge/version.hpp"
#include "local_socket.hpp"
#include "proto/tls_pin.hpp"

namespace mesh::coord {

namespace {

// The pools "auto" hands container subnets out of. Not fixed at first start: a node keeps the
// subnet it has when the pool changes; only new blocks come from the new pool.
std::vector<ContainerPool> container_pools(const ServerOptions& options,
                                           const NetworkConfig& network) {
    std::vector<ContainerPool> pools;
    if (options.container_pools.size() == 1 && options.container_pools.front() == "off") {
        return pools;
    }
    if (options.container_pools.empty()) {
        const ContainerPool fallback{IpPrefix::parse("10.244.0.0/16"),
                                     options.container_prefix_len};
        if (fallback.prefix.overlaps(network.ipv4_prefix)) {
            spdlog::warn(
                "event=no_container_pool reason=\"the default pool 10.244.0.0/16 overlaps the "
                "overlay {}\" hint=\"choose one with --container-pool\"",
                network.ipv4_prefix.to_string());
            return pools;
        }
        return {fallback};
    }
    for (const auto& text : options.container_pools) {
        IpPrefix prefix;
        try {
            prefix = IpPrefix::parse(text);
        } catch (const Error& e) {
            throw Error("--container-pool " + text + ": " + e.what() +
                        " (a prefix such as 10.244.0.0/16, or off)");
        }
        ContainerPool pool{prefix, prefix.address.is_v4() ? options.container_prefix_len
                                                          : options.container_prefix_len6};
        for (const auto& other : pools) {
            if (other.prefix.address.family == prefix.address.family) {
                throw Error("--container-pool: at most one pool per address family (" +
                            other.prefix.to_string() + " and " + text + ")");
            }
        }
        try {
            validate_container_pool(pool.prefix, pool.length, network.ipv4_prefix,
                                    network.ipv6_prefix);
        } catch (const Error& e) {
            throw Error(std::string("--container-pool: ") + e.what());
        }
        pools.push_back(pool);
    }
    return pools;
}

std::string pools_label(const std::vector<ContainerPool>& pools) {
    std::string out;
    for (const auto& p : pools) {
        out += (out.empty() ? "" : ",") + p.prefix.to_string() + "@/" + std::to_string(p.length);
    }
    return out.empty() ? "off" : out;
}

// The overlay prefixes are fixed at first start: changing them later would renumber every node.
// Replicas starting at the same moment on a new etcd agree on one value: the read and the write
// are one transaction, and the one that loses reads the winner's.
IpPrefix settle_prefix(Store& store, const char* key, const std::string& wanted,
                       const IpPrefix& fallback) {
    for (int attempt = 0;; ++attempt) {
        try {
            IpPrefix out;
            store.transaction([&] {
                auto stored = store.meta(key);
                if (stored) {
                    out = IpPrefix::parse(*stored);
                    if (!wanted.empty() && IpPrefix::parse(wanted) != out) {
                        throw Error(std::string("this fleet's store was created with ") + key +
                                    " " + *stored +
                                    "; use that, or a new --state-dir (or etcd prefix) for "
                                    "another network");
                    }
                    return;
                }
                out = wanted.empty() ? fallback : IpPrefix::parse(wanted);
                store.set_meta(key, out.to_string());
            });
            return out;
        } catch (const StoreConflict&) {
            if (attempt == 10) throw;
        }
    }
}

// The store of --store (SQLite in the state directory by default). An etcd that does not answer
// yet is waited for, with a line per try, rather than given up on: replicas and etcd are often
// started together.
struct OpenStore {
    std::unique_ptr<EtcdClient> etcd;
    std::unique_ptr<Store> store;
    EtcdStore* shared = nullptr;
    std::string label;
};

OpenStore open_store(const ServerOptions& options) {
    OpenStore out;
    StoreUrl url;
    if (options.store.empty()) {
        url.kind = StoreUrl::Kind::sqlite;
        url.sqlite_dir = options.state_dir;
    } else {
        try {
            url = parse_store_url(options.store);
        } catch (const Error& e) {
            throw Error(std::string("--store: ") + e.what());
        }
    }
    out.label = url.to_string();
    if (url.kind == StoreUrl::Kind::sqlite) {
        out.store = std::make_unique<SqliteStore>(url.sqlite_dir + "/coordinator.db");
        return out;
    }
    // Below an agent's 2 s per join attempt: without a quorum the agent hears UNAVAILABLE naming
    // the store instead of running into its own deadline.
    out.etcd = std::make_unique<EtcdClient>(url.endpoints, std::chrono::milliseconds(1500));
    auto store = std::make_unique<EtcdStore>(*out.etcd, url.prefix);
    auto wait = std::chrono::milliseconds(500);
    for (int attempt = 1;; ++attempt) {
        try {
            store->version();
            break;
        } catch (const StatusError& e) {
            spdlog::warn("event=store_unreachable store={} attempt={} retry_ms={} error={}",
                         out.label, attempt, wait.count(), kb::log_quote(e.what()));
            std::this_thread::sleep_for(wait);
            wait = std::min(wait * 2, std::chrono::milliseconds(5000));
        }
    }
    out.shared = store.get();
    out.store = std::move(store);
    return out;
}

// --stun-listen: "off" = no responder, else HOST:PORT.
std::optional<Endpoint> parse_stun_listen(const std::string& text) {
    if (text == "off") return std::nullopt;
    try {
        return Endpoint::parse(text);
    } catch (const Error& e) {
        throw Error("--stun-listen '" + text + "': " + e.what() +
                    " (give HOST:PORT, e.g. 0.0.0.0:3478, or off)");
    }
}

void start_stun(std::optional<StunResponder>& responder, const std::optional<Endpoint>& listen) {
    if (!listen) return;
    try {
        responder.emplace(*listen);
    } catch (const Error& e) {
        throw Error(std::string(e.what()) +
                    "; the responder needs UDP PORT and PORT + 1: choose another --stun-listen "
                    "port, or --stun-listen off");
    }
}

std::shared_ptr<grpc::ServerCredentials> tls_credentials(const TlsIdentity& identity) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({identity.key_pem, identity.cert_pem});
    return grpc::SslServerCredentials(options);
}

void check_durations(const ServerOptions& options) {
    if (options.node_key_ttl != 0 &&
        (options.node_key_ttl < 10 || options.node_key_ttl > 10LL * 365 * 86400)) {
        throw Error("--node-key-ttl must be 0 (never) or between 10 s and 10 years");
    }
    if (options.ephemeral_inactivity < 1 || options.ephemeral_inactivity > 365LL * 86400) {
        throw Error("--ephemeral-inactivity must be between 1 s and 365 days");
    }
    if (options.container_grace < 0 || options.container_grace > 365LL * 86400) {
        throw Error("--container-grace must be 0 (none) or at most 365 days");
    }
    if (options.turn_credential_ttl < 60 || options.turn_credential_ttl > 7LL * 86400) {
        throw Error("--turn-credential-ttl must be between 1 minute and 7 days");
    }
}

// One pass of the reaper: expires lapsed keys, removes idle ephemeral nodes, logs what it did.
// `since`: when this coordinator started serving (a node offline before counts from then).
// `replication`: replicas on etcd, where one of them reaps (the others skip the pass) and a
// node streaming to any replica counts as connected.
void reap_once(Registry& registry, Fanout& hub, Replication* replication, std::int64_t since) {
    try {
        if (replication && !replication->lead_reaper()) return;
        auto result = registry.reap(
            [&](const std::string& id) {
                return hub.connected(id) || (replication && replication->connected_anywhere(id));
            },
            since);
        for (const auto& id : result.expired) {
            spdlog::info("event=node_expired node={} by=key_ttl", id);
        }
        for (const auto& id : result.removed) {
            spdlog::info("event=node_removed node={} by=ephemeral_inactivity", id);
        }
    } catch (const std::exception& e) {
        spdlog::error("event=reap_failed error={}", kb::log_quote(e.what()));
    }
}

// Runs reap_once every second, and writes last_seen to the store every 10 s, until stopped.
class Reaper {
  public:
    // on_pass: after every pass (systemd's watchdog and status: a hung pass stops them).
    Reaper(Registry& registry, Fanout& hub, Replication* replication, std::int64_t since,
           std::function<void()> on_pass)
        : registry_(registry),
          hub_(hub),
          replication_(replication),
          since_(since),
          on_pass_(std::move(on_pass)) {
        thread_ = std::thread([this] { run(); });
    }
    ~Reaper() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        int passes = 0;
        while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
            lock.unlock();
            reap_once(registry_, hub_, replication_, since_);
            if (++passes % 10 == 0) flush_last_seen();
            // What a burst of full maps left behind (every agent's map, encrypted, in flight at
            // once after a restart) goes back to the system instead of staying in malloc's
            // arenas: the coordinator's RSS is what it holds, not its highest mark.
            if (passes % 5 == 0) malloc_trim(0);
            if (on_pass_) on_pass_();
            lock.lock();
        }
        lock.unlock();
        flush_last_seen();
    }

    void flush_last_seen() {
        try {
            registry_.flush_last_seen();
        } catch (const std::exception& e) {
            spdlog::warn("event=last_seen_failed error={}", kb::log_quote(e.what()));
        }
    }

    Registry& registry_;
    Fanout& hub_;
    Replication* replication_;
    const std::int64_t since_;
    std::function<void()> on_pass_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

// The relays of --turn, with the secret from --turn-secret-file (trailing newline dropped).
RelayConfig relay_config(const ServerOptions& options) {
    RelayConfig config;
    config.credential_ttl = options.turn_credential_ttl;
    if (options.turn_servers.empty()) {
        if (!options.turn_secret_file.empty()) {
            throw Error("--turn-secret-file without --turn: name the TURN servers it is for");
        }
        return config;
    }
    for (const auto& url : options.turn_servers) config.servers.push_back(parse_relay_url(url));
    if (!options.turn_tls_fingerprint.empty()) {
        const bool any_tls = std::any_of(config.servers.begin(), config.servers.end(),
                                         [](const RelayUrl& u) { return u.tls; });
        if (!any_tls) {
            throw Error("--turn-tls-fingerprint without a turns: server in --turn");
        }
        config.tls_fingerprint = tls::parse_fingerprint(options.turn_tls_fingerprint);
    }
    if (options.turn_secret_file.empty()) {
        throw Error(
            "--turn needs --turn-secret-file (the secret coturn has as static-auth-secret)");
    }
    std::string secret = kb::read_file(options.turn_secret_file);
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    validate_relay_secret(secret);
    struct stat st {};
    if (::stat(options.turn_secret_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
        spdlog::warn("event=turn_secret_readable path={} hint=\"chmod 600: others can read it\"",
                     options.turn_secret_file);
    }
    config.secret = std::move(secret);
    return config;
}

int run_server(const ServerOptions& options) {
    // gRPC's threads would each get an arena of their own: two keep freed memory reusable.
    mallopt(M_ARENA_MAX, 2);
    // Debian's abseil is built with deadlock detection on: every lock of gRPC's mutexes walked
    // a lock graph (4% of the coordinator's CPU in a storm of joins). gRPC's own builds have it
    // off.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    check_durations(options);
    RelayConfig relays = relay_config(options);
    kb::ensure_private_dir(options.state_dir);
    DirLock lock(options.state_dir, "coordinator.lock", "mesh-coordinator");
    const std::string admin_socket =
        options.admin_socket.empty() ? options.state_dir + "/admin.sock" : options.admin_socket;

    OpenStore opened = open_store(options);
    CoordinatorMetrics metrics(opened.shared ? "etcd" : "sqlite");
    StoreHealth store_health;
    TimedStore timed_store(*opened.store, metrics, store_health);
    Store& store = timed_store;
    NetworkConfig network;
    network.ipv4_prefix =
        settle_prefix(store, "ipv4_prefix", options.ipv4_prefix, IpPrefix::parse("100.64.0.0/10"));
    network.ipv6_prefix =
        settle_prefix(store, "ipv6_prefix", options.ipv6_prefix, random_ula_prefix());
    validate_overlay_prefixes(network.ipv4_prefix, network.ipv6_prefix);
    const auto stun_listen = parse_stun_listen(options.stun_listen);
    if (stun_listen) network.stun_port = stun_listen->port;
    network.node_key_ttl = static_cast<std::uint32_t>(options.node_key_ttl);
    network.ephemeral_inactivity = static_cast<std::uint32_t>(options.ephemeral_inactivity);
    network.container_grace = static_cast<std::uint32_t>(options.container_grace);
    network.container_pools = container_pools(options, network);
    const TlsIdentity tls =
        load_or_create_tls_identity(options.state_dir, options.tls_cert, options.tls_key);
    if (tls.created) {
        spdlog::info("event=tls_certificate_created path={}/tls/cert.pem fingerprint={}",
                     options.state_dir, tls.fingerprint);
    }

    Fanout* announce = nullptr;  // set once the fan-out exists (the registry comes first)
    Registry registry(
        store, network, unix_now,
        [&announce](std::uint64_t version) {
            if (announce) announce->map_changed(version);
        },
        encode_peer);
    Fanout hub(registry, MapMessages(to_proto(network).SerializeAsString(), 1 << 20), {});
    hub.set_metrics(&metrics);
    announce = &hub;
    std::unique_ptr<Replication> replication;
    if (opened.shared) {
        Replication::Options ro;
        ro.replica_id = options.replica_id.empty() ? make_replica_id() : options.replica_id;
        replication = std::make_unique<Replication>(*opened.shared, registry, hub, ro);
        hub.set_presence_listener(replication.get());
        replication->start();
    }
    hub.start();
    ServiceLimits limits;
    limits.gate.max_waiting_per_source = options.sync_waiting_per_source;
    CoordinatorService coordinator(registry, hub, tls.fingerprint, limits);
    std::string relay_label;
    for (const auto& r : relays.servers)
        relay_label += (relay_label.empty() ? "" : ",") + r.to_string();
    coordinator.set_relays(std::move(relays));
    coordinator.set_metrics(&metrics);
    coordinator.start();
    AdminService admin(registry, hub, AdminService::Access::local, tls.fingerprint);
    AdminService remote_admin(registry, hub, AdminService::Access::remote, tls.fingerprint);
    admin.set_replication(replication.get());
    remote_admin.set_replication(replication.get());

    // Before any listener opens: the key TTL as configured now reaches every node, and whatever
    // lapsed while the coordinator was down is expired, so no stream can open on a lapsed key.
    const std::int64_t serving_since = registry.now();
    if (auto settled = registry.settle_key_expiry(); !settled.empty()) {
        spdlog::info("event=key_expiry_settled nodes={} node_key_ttl={}", settled.size(),
                     network.node_key_ttl);
    }
    reap_once(registry, hub, replication.get(), serving_since);

    // Block the signals before gRPC starts its threads, so only sigwait below receives them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::optional<StunResponder> stun;
    start_stun(stun, stun_listen);

    int listen_port = 0;
    grpc::EnableDefaultHealthCheckService(true);  // grpc.health.v1.Health on the agents' port
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options.listen, tls_credentials(tls), &listen_port);
    // Agents ping every 15 s to notice a dead connection; gRPC's default policy (one ping per
    // 5 minutes without data) would answer that with GOAWAY and drop every idle Sync stream.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // An agent needs one Sync stream (and a Join now and then): a few streams per connection,
    // so one connection cannot open thousands (security review, finding 1).
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 8);
    // TLS records of at most 4 KiB: each connection's frame buffers shrink with them (measured:
    // 23 KiB less per connected agent at 1,000; gRPC's default is 16 KiB).
    builder.AddChannelArgument(GRPC_ARG_TSI_MAX_FRAME_SIZE, 4096);
    builder.RegisterService(&coordinator);
    auto server = builder.BuildAndStart();
    if (!server || listen_port == 0) {
        throw Error("cannot listen on " + options.listen + " (address in use or not local?)");
    }
    // grpc.health.v1.Health: NOT_SERVING while the store is unavailable.
    store_health.set_listener(
        serving_status_follows(server->GetHealthCheckService(), opened.label));
    grpc::ServerBuilder admin_builder;
    admin_builder.RegisterService(&admin);
    auto admin_server = admin_builder.BuildAndStart();
    if (!admin_server) throw Error("cannot start the operator API for " + admin_socket);
    auto admin_listener = std::make_unique<local::LocalSocketServer>(*admin_server, admin_socket);
    std::unique_ptr<grpc::Server> remote_admin_server;
    if (!options.admin_listen.empty()) {
        int port = 0;
        grpc::ServerBuilder remote_builder;
        remote_builder.AddListeningPort(options.admin_listen, tls_credentials(tls), &port);
        remote_builder.RegisterService(&remote_admin);
        remote_admin_server = remote_builder.BuildAndStart();
        if (!remote_admin_server || port == 0) {
            throw Error("cannot listen on --admin-listen " + options.admin_listen);
        }
    }
    // systemd (Type=notify): the status every 10 passes, the watchdog's ping every pass when
    // the unit has WatchdogSec (a pass takes the registry's lock and the store: a deadlock or a
    // hung store stops the pings).
    const bool watchdog = daemon::watchdog_timeout().count() > 0;
    auto status = [&registry, &hub] {
        const auto nodes = registry.with_map([](const MeshMap& map) { return map.size(); });
        return "serving " + std::to_string(nodes) + " nodes, " +
               std::to_string(hub.session_count()) + " connected";
    };
    int passes = 0;
    // The store is probed once a pass, so an outage of an idle store is noticed too.
    Reaper reaper(registry, hub, replication.get(), serving_since, [&] {
        probe_store(store);
        if (watchdog) daemon::notify_watchdog();
        if (++passes % 10 == 0) daemon::notify_status(status());
    });
    auto observer =
        start_observer(options.metrics_listen, admin, registry, {metrics, store_health});

    spdlog::info(
        "event=started nodes={} store={} replica={} listen={} admin_socket={} admin_listen={} "
        "fingerprint={} ipv4_prefix={} "
        "ipv6_prefix={} container_pools={} container_grace={} stun_port={} relays={} "
        "node_key_ttl={} ephemeral_inactivity={} version={} release={} commit={}",
        registry.with_map([](const MeshMap& map) { return map.size(); }), opened.label,
        replication ? replication->replica_id() : "-", options.listen, admin_socket,
        options.admin_listen.empty() ? "off" : options.admin_listen, tls.fingerprint,
        network.ipv4_prefix.to_string(), network.ipv6_prefix.to_string(),
        pools_label(network.container_pools), network.container_grace, network.stun_port,
        relay_label.empty() ? "none" : relay_label, network.node_key_ttl,
        network.ephemeral_inactivity, registry.version(), mesh::version(), mesh::commit());

    // Both listeners (agents' TLS port, the operator's socket) are up.
    daemon::notify_ready(status());
    if (watchdog) daemon::notify_watchdog();

    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("event=stopping signal={}", received);
    daemon::notify_stopping("stopping");
    hub.shutdown();
    if (replication) replication->stop();  // revokes its lease: its nodes leave the others' view
    if (stun) stun->stop();
    auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
    if (auto* health = server->GetHealthCheckService()) health->Shutdown();  // NOT_SERVING
    server->Shutdown(deadline);
    store_health.set_listener(nullptr);  // the flusher may still write: not into a gone server
    admin_listener.reset();              // no new operator connections; removes the socket
    admin_server->Shutdown(deadline);
    if (remote_admin_server) remote_admin_server->Shutdown(deadline);
    observer.reset();
    spdlog::info("event=stopped");
    return 0;
}

}  // namespace mesh::coord
