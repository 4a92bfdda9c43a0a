// Coordinator replicas on a real etcd (Debian's etcd-server, started by the test on loopback):
// the store's transactions, three registries with their fan-outs and replication in one
// process, concurrent joins across them, an etcd outage (and the gRPC health service saying
// so), the reaper's election and a migration from SQLite. The labs
// (tests/integration/replicas_test.sh) run the same with real processes and agents in namespaces.
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "coordinator/etcd_store.hpp"
#include "coordinator/fanout/fanout.hpp"
#include "coordinator/migrate.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/replication.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/store_probe.hpp"
#include "coordinator/timed_store.hpp"
#include "sync_proof.hpp"

using namespace mesh::coord;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// One etcd member on 127.0.0.1 with its own data directory; start() again after stop() keeps
// the data (a member that comes back).
class Etcd {
  public:
    Etcd() : dir_(fs::temp_directory_path() / ("mesh-etcd-" + std::to_string(::getpid()))) {
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        client_port_ = free_port();
        peer_port_ = free_port();
        start();
    }
    ~Etcd() {
        stop();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    void start() {
        const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
        const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            std::string log = (dir_ / "etcd.log").string();
            FILE* out = std::freopen(log.c_str(), "a", stdout);
            (void)out;
            ::dup2(STDOUT_FILENO, STDERR_FILENO);
            const std::string data = (dir_ / "data").string(), cluster = "t=" + peer;
            ::execlp("etcd", "etcd", "--name", "t", "--data-dir", data.c_str(),
                     "--listen-client-urls", client.c_str(), "--advertise-client-urls",
                     client.c_str(), "--listen-peer-urls", peer.c_str(),
                     "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster",
                     cluster.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        EtcdClient probe({endpoint()}, 500ms);
        for (int i = 0; i < 100; ++i) {
            try {
                probe.range("probe");
                return;
            } catch (const std::exception&) {
                std::this_thread::sleep_for(100ms);
            }
        }
        FAIL("etcd did not answer within 10 s (is etcd-server installed?)");
    }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

  private:
    fs::path dir_;
    int client_port_ = 0, peer_port_ = 0;
    pid_t pid_ = -1;
};

const std::string kFingerprint = "sha256:" + std::string(64, 'f');

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

NetworkConfig test_network() {
    NetworkConfig n;
    n.ipv6_prefix = IpPrefix::parse("fd00:aa::/48");
    return n;
}

// A join by machine `seed` (distinct seeds: distinct machine and WireGuard keys), signed.
JoinParams join_params(const std::string& token, std::uint32_t seed, const std::string& host) {
    unsigned char s[32] = {}, pk[32], sk[64];
    for (int i = 0; i < 4; ++i) s[i] = static_cast<unsigned char>(seed >> (8 * i));
    s[31] = 1;
    crypto_sign_seed_keypair(pk, sk, s);
    Key machine, wg;
    std::copy(std::begin(pk), std::end(pk), machine.bytes.begin());
    crypto_generichash(wg.bytes.data(), 32, pk, 32, nullptr, 0);
    auto message = mesh::v1::join_proof_message(
        kFingerprint, token, std::string(reinterpret_cast<const char*>(wg.bytes.data()), 32));
    std::string signature(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         sk);
    JoinParams p;
    p.token = token;
    p.wireguard_key = wg;
    p.machine_key = machine;
    p.hostname = host;
    p.machine_signature = signature;
    p.coordinator_fingerprint = kFingerprint;
    return p;
}

// A Coordinator.Leave proof for node_id by machine `seed` (as join_params makes its keys).
std::string leave_signature(std::uint32_t seed, const std::string& node_id) {
    unsigned char s[32] = {}, pk[32], sk[64];
    for (int i = 0; i < 4; ++i) s[i] = static_cast<unsigned char>(seed >> (8 * i));
    s[31] = 1;
    crypto_sign_seed_keypair(pk, sk, s);
    auto message = mesh::v1::leave_proof_message(kFingerprint, node_id);
    std::string signature(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         sk);
    return signature;
}

// One replica: what run_server builds, without gRPC.
struct Replica {
    Replica(const std::string& endpoint, const std::string& prefix, const std::string& id)
        : client({endpoint}, 2000ms),
          store(client, prefix),
          registry(store, test_network(), unix_now,
                   [this](std::uint64_t) {
                       if (ready) fanout.map_changed();
                   }),
          fanout(registry, MapMessages("", 1 << 20), {}),
          replication(store, registry, fanout, {id, 2, 20ms}) {
        fanout.set_presence_listener(&replication);
        ready = true;
        replication.start();
    }
    ~Replica() { replication.stop(); }
    std::uint64_t version() { return registry.version(); }
    std::size_t size() {
        return registry.with_map([](const MeshMap& m) { return m.size(); });
    }

    EtcdClient client;
    EtcdStore store;
    std::atomic<bool> ready{false};
    Registry registry;
    Fanout fanout;
    Replication replication;
};

template <class F>
bool eventually(F&& f, std::chrono::milliseconds limit = 5000ms) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return f();
}

// grpc.health.v1.Health/Check from a real client, by the status's wire value (1 SERVING,
// 2 NOT_SERVING; 0 when absent: UNKNOWN). The messages are tiny: HealthCheckRequest{service: ""}
// is empty, HealthCheckResponse is {status = varint}.
int health_status(const std::string& target) {
    grpc::GenericStub stub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status status) { done.set_value(std::move(status)); });
    auto status = done.get_future().get();
    REQUIRE(status.ok());
    std::vector<grpc::Slice> slices;
    REQUIRE(response.Dump(&slices).ok());
    std::string bytes;
    for (const auto& slice : slices) {
        bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    return bytes.size() >= 2 && bytes[0] == 0x08 ? bytes[1] : 0;
}

std::string unique_prefix(const char* name) {
    return "/test-" + std::to_string(::getpid()) + "-" + name + "/";
}

}  // namespace

TEST_CASE("etcd store: a transaction whose read changed under it commits nothing") {
    Etcd etcd;
    EtcdClient client({etcd.endpoint()}, 2000ms);
    EtcdStore a(client, "/conflict/"), b(client, "/conflict/");
    TokenRecord t;
    t.id = "0123456789abcdef";
    a.put_token(t);
    bool conflicted = false;
    try {
        a.transaction([&] {
            auto mine = a.token(t.id);
            REQUIRE(mine);
            b.transaction([&] {
                auto theirs = b.token(t.id);
                theirs->uses = 7;
                b.put_token(*theirs);
            });
            mine->uses = 1;
            a.put_token(*mine);
            a.bump_version();
        });
    } catch (const StoreConflict& c) {
        conflicted = true;
        CHECK(c.version() == 0);
    }
    CHECK(conflicted);
    CHECK(a.token(t.id)->uses == 7);
    CHECK(a.version() == 0);
}

TEST_CASE("etcd replicas: 200 concurrent joins over three replicas, each token used once") {
    Etcd etcd;
    const auto prefix = unique_prefix("joins");
    Replica r0(etcd.endpoint(), prefix, "r0"), r1(etcd.endpoint(), prefix, "r1"),
        r2(etcd.endpoint(), prefix, "r2");
    Replica* replicas[] = {&r0, &r1, &r2};
    constexpr int kTokens = 200;
    std::vector<std::string> tokens;
    TokenParams single;
    single.ttl_seconds = 3600;
    for (int i = 0; i < kTokens; ++i)
        tokens.push_back(replicas[i % 3]->registry.create_token(single).text);
    // Every token twice, by two machines on two replicas: exactly one of each pair may join.
    std::atomic<int> joined{0}, refused{0}, other{0};
    std::mutex mutex;
    std::vector<NodeRecord> nodes;
    auto worker = [&](int w) {
        for (int i = w; i < 2 * kTokens; i += 8) {
            const int token = i / 2;
            Replica& r = *replicas[(token + (i % 2) + 1) % 3];
            try {
                auto n = r.registry.join(join_params(
                    tokens[token], static_cast<std::uint32_t>(i + 1), "h" + std::to_string(i)));
                std::lock_guard lock(mutex);
                nodes.push_back(n);
                ++joined;
            } catch (const StatusError& e) {
                (e.code() == Code::permission_denied ? refused : other)++;
                if (e.code() != Code::permission_denied) {
                    std::lock_guard lock(mutex);
                    UNSCOPED_INFO("unexpected refusal: " << e.what());
                }
            }
        }
    };
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < 8; ++w) threads.emplace_back(worker, w);
    for (auto& t : threads) t.join();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    WARN("400 joins (200 tokens, each twice) over 3 replicas in " << took.count() << " ms");
    CHECK(joined == kTokens);
    CHECK(refused == kTokens);
    CHECK(other == 0);
    std::set<std::string> addresses, hostnames;
    for (const auto& n : nodes) {
        addresses.insert(n.ipv4.to_string());
        hostnames.insert(n.hostname);
    }
    CHECK(addresses.size() == kTokens);
    CHECK(hostnames.size() == kTokens);
    for (const auto& t : r0.store.tokens()) CHECK(t.uses == 1);
    const std::uint64_t version = r0.store.version();
    for (auto* r : replicas) {
        CHECK(eventually([&] { return r->version() == version && r->size() == kTokens; }));
    }
    // Every replica's map is the same map.
    auto ids = [](Replica& r) {
        return r.registry.with_map([](const MeshMap& m) {
            std::map<std::string, std::string> out;
            for (const auto& [id, n] : m.nodes()) out[id] = n.record.ipv4.to_string();
            return out;
        });
    };
    CHECK(ids(r0) == ids(r1));
    CHECK(ids(r1) == ids(r2));
}

TEST_CASE("etcd replicas: a change through any replica reaches the others") {
    Etcd etcd;
    const auto prefix = unique_prefix("changes");
    Replica a(etcd.endpoint(), prefix, "a"), b(etcd.endpoint(), prefix, "b");
    TokenParams reusable;
    reusable.reusable = true;
    auto token = a.registry.create_token(reusable).text;
    auto n1 = a.registry.join(join_params(token, 1, "one"));
    auto n2 = b.registry.join(join_params(token, 2, "two"));
    CHECK(n1.ipv4 != n2.ipv4);
    REQUIRE(eventually([&] { return b.registry.node(n1.id).has_value(); }));
    CHECK(b.registry.update_endpoints(n1.id, {Endpoint::parse("192.0.2.1:51820")}));
    REQUIRE(eventually([&] {
        auto n = a.registry.node(n1.id);
        return n && n->endpoints.size() == 1;
    }));
    a.registry.remove_node(n2.id);
    CHECK(eventually([&] { return !b.registry.node(n2.id).has_value(); }));
    CHECK(a.version() == b.version());
    // A stream on one replica is seen by the other (its lease's live key), until it ends.
    auto session = a.fanout.attach(n1.id, 0, nullptr);
    CHECK(eventually([&] { return b.replication.connected_anywhere(n1.id); }));
    CHECK(b.replication.replica_of(n1.id) == std::optional<std::string>("a"));
    a.fanout.detach(session);
    CHECK(eventually([&] { return !b.replication.connected_anywhere(n1.id); }));
}

TEST_CASE("etcd replicas: a node that leaves through one replica is gone from the other") {
    Etcd etcd;
    const auto prefix = unique_prefix("leave");
    Replica a(etcd.endpoint(), prefix, "a"), b(etcd.endpoint(), prefix, "b");
    TokenParams reusable;
    reusable.reusable = true;
    auto token = a.registry.create_token(reusable).text;
    auto n1 = a.registry.join(join_params(token, 1, "one"));
    auto n2 = a.registry.join(join_params(token, 2, "two"));
    REQUIRE(eventually([&] { return b.size() == 2; }));
    const auto version = b.version();
    // Machine 2's proof for node 1: refused, nothing removed anywhere.
    CHECK_THROWS_AS(b.registry.leave(n1.id, leave_signature(2, n1.id), kFingerprint), StatusError);
    CHECK(b.version() == version);
    // Node 1's own proof, through the other replica than it joined by.
    CHECK(b.registry.leave(n1.id, leave_signature(1, n1.id), kFingerprint) == n1.id);
    CHECK(eventually([&] { return !a.registry.node(n1.id).has_value(); }));
    CHECK(a.registry.node(n2.id).has_value());
    CHECK(eventually([&] { return a.version() == b.version(); }));
    CHECK_THROWS_AS(a.registry.leave(n1.id, leave_signature(1, n1.id), kFingerprint),
                    StatusError);  // not found: once
}

TEST_CASE("etcd replicas: with etcd down, writes are refused and nothing is handed out") {
    Etcd etcd;
    const auto prefix = unique_prefix("outage");
    Replica a(etcd.endpoint(), prefix, "a"), b(etcd.endpoint(), prefix, "b");
    TokenParams reusable;
    reusable.reusable = true;
    auto token = a.registry.create_token(reusable).text;
    auto n1 = a.registry.join(join_params(token, 1, "one"));
    REQUIRE(eventually([&] { return b.registry.node(n1.id).has_value(); }));
    etcd.stop();
    Code code{};
    try {
        b.registry.join(join_params(token, 2, "two"));
    } catch (const StatusError& e) {
        code = e.code();
        CHECK(std::string(e.what()).find("the coordinators' store") != std::string::npos);
    }
    CHECK(code == Code::unavailable);
    CHECK(b.size() == 1);  // the map it has is still served
    etcd.start();
    auto n2 = b.registry.join(join_params(token, 2, "two"));
    CHECK(n2.ipv4 != n1.ipv4);
    CHECK(eventually([&] { return a.registry.node(n2.id).has_value(); }, 10000ms));
}

TEST_CASE("etcd health: NOT_SERVING while etcd is down, SERVING once it is back") {
    Etcd etcd;
    EtcdClient client({etcd.endpoint()}, 1000ms);
    EtcdStore etcd_store(client, unique_prefix("health"));
    CoordinatorMetrics metrics("etcd");
    StoreHealth health;
    TimedStore store(etcd_store, metrics, health);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    grpc::CallbackGenericService nothing;  // a server needs a service besides the health one
    builder.RegisterCallbackGenericService(&nothing);
    auto server = builder.BuildAndStart();
    REQUIRE(server);
    REQUIRE(port != 0);
    const std::string target = "127.0.0.1:" + std::to_string(port);
    health.set_listener(serving_status_follows(server->GetHealthCheckService(), "etcd (test)"));
    probe_store(store);
    CHECK(health.available());
    CHECK(health_status(target) == 1);

    etcd.stop();
    probe_store(store);  // as the coordinator's reaper does once a second
    CHECK_FALSE(health.available());
    CHECK(health_status(target) == 2);
    CHECK(health.outages() == 1);

    etcd.start();
    CHECK(eventually(
        [&] {
            probe_store(store);
            return health.available();
        },
        10000ms));
    CHECK(health_status(target) == 1);
    // Every probe was timed, the failed one too: at least 3 reads of etcd.
    const auto text = mesh::metrics::render(metrics.families());
    const std::string count = "mesh_coordinator_store_seconds_count{store=\"etcd\",op=\"read\"} ";
    const auto at = text.find(count);
    REQUIRE(at != std::string::npos);
    CHECK(std::stoul(text.substr(at + count.size())) >= 3);
    health.set_listener(nullptr);
    server->Shutdown(std::chrono::system_clock::now() + 1s);
}

TEST_CASE("etcd replicas: one replica reaps, another takes over when it stops") {
    Etcd etcd;
    const auto prefix = unique_prefix("reaper");
    auto a = std::make_unique<Replica>(etcd.endpoint(), prefix, "a");
    auto b = std::make_unique<Replica>(etcd.endpoint(), prefix, "b");
    REQUIRE(
        eventually([&] { return a->replication.lead_reaper() || b->replication.lead_reaper(); }));
    const bool a_leads = a->replication.lead_reaper();
    CHECK(a_leads != b->replication.lead_reaper());
    // Whichever leads stops (revoking its lease, the reaper key with it): the other takes over.
    auto& leader = a_leads ? a : b;
    auto& other = a_leads ? b : a;
    leader.reset();
    CHECK(eventually([&] { return other->replication.lead_reaper(); }));
}

TEST_CASE("etcd replicas: the reaper removes more nodes than one etcd transaction holds") {
    Etcd etcd;
    EtcdClient client({etcd.endpoint()}, 2000ms);
    EtcdStore store(client, unique_prefix("reap"));
    NetworkConfig network = test_network();
    network.ephemeral_inactivity = 1;
    std::int64_t now = unix_now();
    Registry registry(
        store, network, [&] { return now; }, [](std::uint64_t) {});
    TokenParams ephemeral;
    ephemeral.reusable = true;
    ephemeral.ephemeral = true;
    auto token = registry.create_token(ephemeral).text;
    for (std::uint32_t i = 1; i <= 90; ++i) {
        registry.join(join_params(token, i, "e" + std::to_string(i)));
    }
    registry.touch(registry.with_map([](const MeshMap& m) { return m.nodes().begin()->first; }));
    now += 10;
    std::size_t removed = 0;
    int passes = 0;
    while (removed < 90 && passes < 10) {
        removed += registry.reap([](const std::string&) { return false; }, 0).removed.size();
        ++passes;
    }
    CHECK(removed == 90);
    CHECK(passes > 1);  // at most 35 removals (105 etcd operations) per pass
    CHECK(store.load().nodes.empty());
    CHECK(store.removals().size() == 90);
    // last_seen of many nodes at once goes out in several transactions too.
    auto more = registry.create_token(ephemeral).text;
    std::vector<std::string> ids;
    for (std::uint32_t i = 100; i < 250; ++i) {
        ids.push_back(registry.join(join_params(more, i, "f" + std::to_string(i))).id);
    }
    now += 1;
    for (const auto& id : ids) registry.touch(id);
    registry.flush_last_seen();
    CHECK(store.load().nodes.front().last_seen == now);
}

TEST_CASE("migrate: a SQLite fleet copied into etcd is the same fleet") {
    Etcd etcd;
    const auto dir = fs::temp_directory_path() / ("mesh-migrate-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    {
        SqliteStore sqlite((dir / "coordinator.db").string());
        sqlite.set_meta("ipv4_prefix", "100.64.0.0/10");
        Registry registry(sqlite, test_network(), unix_now, [](std::uint64_t) {});
        TokenParams reusable;
        reusable.reusable = true;
        auto token = registry.create_token(reusable).text;
        std::vector<std::string> ids;
        for (std::uint32_t i = 1; i <= 50; ++i) {
            ids.push_back(registry.join(join_params(token, i, "m" + std::to_string(i))).id);
        }
        // More tombstones than one etcd transaction holds (three operations each).
        for (std::size_t i = 4; i < 50; ++i) registry.remove_node(ids[i]);
        EtcdClient client({etcd.endpoint()}, 2000ms);
        EtcdStore target(client, "/migrated/");
        std::vector<std::string> lines;
        auto counts =
            migrate_store(sqlite, target, [&](const std::string& l) { lines.push_back(l); });
        CHECK(counts.nodes == 4);
        CHECK(counts.removals == 46);
        CHECK(counts.tokens == 1);
        CHECK(!lines.empty());
        auto from = sqlite.load(), to = target.load();
        CHECK(to.version == from.version);
        auto by_id = [](std::vector<NodeRecord> v) {
            std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.id < y.id; });
            return v;
        };
        CHECK(by_id(to.nodes) == by_id(from.nodes));
        CHECK(to.removals.size() == 46);
        CHECK(target.meta("ipv4_prefix") == sqlite.meta("ipv4_prefix"));
        CHECK(target.tokens() == sqlite.tokens());
        CHECK_THROWS_WITH(migrate_store(sqlite, target, [](const std::string&) {}),
                          Catch::Contains("holds a fleet already"));
    }
    fs::remove_all(dir);
}
