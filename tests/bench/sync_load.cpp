// sync_load: N simulated agents against a real mesh-coordinator over loopback TLS, doing Join and
// Sync exactly as mesh-agent does (acks included), and a trivial gRPC server in the same run as
// the floor of what one message to N streams costs here. Prints a table (docs/BENCHMARKS.md):
// join rate, time until all hold the complete map and every pair is ready, one endpoint change
// to all N-1 receivers (p50/p99/max over receivers and trials, and the floor's), coordinator RSS
// per agent beyond the map, CPU per change, bytes per receiver per change, idle CPU, and the
// generator's own CPU (so a run where the client was the bottleneck shows).
//
//   sync_load --agents 1000 --trials 10               # starts build/bin/mesh-coordinator itself
//   sync_load --agents 200 --check                    # the suite: correctness only, no timing
//   sync_load --agents 400 --crash-after 200 --check  # kill -9 in a storm of joins and reports
//   sync_load --agents 1000 --trials 10 --replicas 3  # 3 replicas on one etcd, agents spread
//   sync_load --address H:P --fingerprint F --token T --agents 5000 --endpoints 16 --join-only
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "coordinator/tls_identity.hpp"
#include "kmod-bridge/files.hpp"
#include "tests/bench/load/floor.hpp"
#include "tests/bench/load/processes.hpp"
#include "tests/bench/load/swarm.hpp"
#include "tls_pin.hpp"

using namespace mesh::load;
namespace fs = std::filesystem;

namespace {

struct Options {
    std::size_t agents = 200;
    int trials = 10;
    bool check = false;
    bool floor = true;
    int idle_seconds = 5;
    int crash_after = 0;
    bool join_only = false;
    bool join_first = false;      // every join before any stream: the storm is the streams' alone
    std::size_t max_syncing = 0;  // SwarmOptions::max_syncing
    int endpoints = 1;
    std::string coordinator_bin;
    int replicas = 1;  // > 1: that many replicas on one etcd started here, agents spread over them
    std::string address, fingerprint, token;  // an external coordinator
    int timeout_seconds = 0;                  // 0: 30 s + N / 100 s
};

int failures = 0;
void fail(const std::string& what) {
    ++failures;
    fmt::print("FAIL  {}\n", what);
}
void pass(const std::string& what) {
    fmt::print("ok    {}\n", what);
}
void expect(bool ok, const std::string& what) {
    ok ? pass(what) : fail(what);
}

double seconds_since(std::int64_t start_ns, std::int64_t end_ns) {
    return static_cast<double>(end_ns - start_ns) / 1e9;
}

template <class Pred>
bool wait_for(Pred done, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (!done()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

// A run whose pairs did not all become ready: which ones are missing, and on which replicas
// the two sides stream (agent i talks to replica i % replicas).
void report_unready(Swarm& swarm, int replicas) {
    int shown = 0;
    for (std::size_t i = 0; i < swarm.size() && shown < 5; ++i) {
        auto missing = swarm.agent(i).not_ready(4);
        if (missing.empty()) continue;
        ++shown;
        std::string peers;
        for (int index : missing) {
            const int ordinal = swarm.ordinal_of(index);
            peers +=
                fmt::format(" {}(replica {})", ordinal, ordinal < 0 ? -1 : 1 + ordinal % replicas);
        }
        fmt::print("  agent {} (replica {}, stream {}) not told ready for:{}\n", i,
                   1 + static_cast<int>(i) % replicas,
                   swarm.agent(i).streaming() ? "open" : "closed", peers);
    }
}

struct Percentiles {
    double p50 = 0, p99 = 0, max = 0;
    std::size_t n = 0;
};
Percentiles percentiles(std::vector<double> ms) {
    Percentiles p;
    if (ms.empty()) return p;
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) {
        return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))];
    };
    p.p50 = at(0.50);
    p.p99 = at(0.99);
    p.max = ms.back();
    p.n = ms.size();
    return p;
}

void raise_fd_limit() {
    rlimit r{65536, 65536};
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
        getrlimit(RLIMIT_NOFILE, &r);
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

// One endpoint change per trial, each from another agent: the time until each receiver has it.
struct TrialResults {
    std::vector<double> latencies_ms;
    int complete_trials = 0;
    double bytes_per_receiver = 0;
};
TrialResults run_trials(Swarm& swarm, int trials) {
    TrialResults r;
    auto& trial = swarm.trial();
    const std::size_t n = swarm.size();
    double bytes = 0;
    for (int t = 0; t < trials; ++t) {
        const std::size_t mover = (static_cast<std::size_t>(t) * 7919 + 3) % n;
        for (auto& s : trial.seen_ns) s = 0;
        trial.seen = 0;
        std::vector<std::uint64_t> before(n);
        for (std::size_t i = 0; i < n; ++i) before[i] = swarm.agent(i).bytes_received;
        trial.mover = swarm.agent(mover).self_index;
        trial.started_ns = now_ns();
        swarm.agent(mover).report("198.51.100." + std::to_string(1 + t % 250) + ":" +
                                  std::to_string(30000 + t));
        bool all = wait_for([&] { return trial.seen.load() >= static_cast<int>(n) - 1; },
                            std::chrono::seconds(10));
        if (all) ++r.complete_trials;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the acks, the ready
        for (std::size_t i = 0; i < n; ++i) {
            if (i == mover) continue;
            auto seen = trial.seen_ns[i].load();
            if (seen) r.latencies_ms.push_back(seconds_since(trial.started_ns, seen) * 1000);
            bytes += static_cast<double>(swarm.agent(i).bytes_received - before[i]);
        }
        trial.mover = -1;
        trial.started_ns = 0;
    }
    if (trials > 0 && n > 1) bytes /= static_cast<double>(trials) * static_cast<double>(n - 1);
    r.bytes_per_receiver = bytes;
    return r;
}

// The floor: the same number of streams on a trivial server, one message of `size` to all.
Percentiles run_floor(const std::string& self, std::size_t n, int trials, std::size_t size,
                      double& floor_cpu, std::uint64_t& floor_rss_kib) {
    auto dir = fs::temp_directory_path() / fs::path("mesh-floor-" + std::to_string(getpid()));
    fs::create_directories(dir);
    auto id = mesh::coord::make_self_signed_identity();
    mesh::kb::write_file_atomic((dir / "cert.pem").string(), id.cert_pem, 0600);
    mesh::kb::write_file_atomic((dir / "key.pem").string(), id.key_pem, 0600);
    int port = free_port();
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        std::string p = std::to_string(port), c = (dir / "cert.pem").string(),
                    k = (dir / "key.pem").string();
        execl(self.c_str(), self.c_str(), "--floor-serve", p.c_str(), "--floor-cert", c.c_str(),
              "--floor-key", k.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    const std::string address = "127.0.0.1:" + std::to_string(port);
    Trial trial;
    trial.seen_ns = std::vector<std::atomic<std::int64_t>>(n);
    std::vector<std::unique_ptr<FloorClient>> clients;
    for (std::size_t i = 0; i < n; ++i) {
        clients.push_back(
            std::make_unique<FloorClient>(address, id.fingerprint, trial, static_cast<int>(i)));
        clients.back()->start();
    }
    wait_for(
        [&] {
            return std::all_of(clients.begin(), clients.end(),
                               [](auto& c) { return c->attached.load(); });
        },
        std::chrono::seconds(60 + n / 50));
    floor_rss_kib = proc_stats(pid).rss_kib;
    std::fprintf(stderr, "floor: %zu of %zu attached, floor server RSS %.1f MiB\n",
                 static_cast<std::size_t>(std::count_if(
                     clients.begin(), clients.end(), [](auto& c) { return c->attached.load(); })),
                 n, static_cast<double>(proc_stats(pid).rss_kib) / 1024.0);
    auto control = mesh::tls::pinned_channel(address, id.fingerprint);
    std::vector<double> ms;
    const double cpu_before = proc_stats(pid).cpu_seconds;
    for (int t = 0; t < trials; ++t) {
        for (auto& s : trial.seen_ns) s = 0;
        trial.seen = 0;
        trial.started_ns = now_ns();
        floor_broadcast(control, size);
        wait_for([&] { return trial.seen.load() >= static_cast<int>(n); },
                 std::chrono::seconds(10));
        for (auto& s : trial.seen_ns) {
            if (s) ms.push_back(seconds_since(trial.started_ns, s) * 1000);
        }
        trial.started_ns = 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    floor_cpu = (proc_stats(pid).cpu_seconds - cpu_before) / std::max(1, trials);
    for (auto& c : clients) c->cancel();
    wait_for(
        [&] {
            return std::all_of(clients.begin(), clients.end(),
                               [](auto& c) { return c->done.load(); });
        },
        std::chrono::seconds(30));
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    fs::remove_all(dir);
    return percentiles(ms);
}

// kill -9 in a storm of joins and endpoint reports: every acknowledged join is there after a
// restart, with the address it was given, and no address went to two nodes.
int crash_test(CoordinatorProcess& coordinator, Swarm& swarm, const Options& o, int port) {
    swarm.start();
    wait_for(
        [&] {
            std::size_t joined = 0;
            for (std::size_t i = 0; i < swarm.size(); ++i) joined += swarm.agent(i).joined;
            return joined >= static_cast<std::size_t>(o.crash_after);
        },
        std::chrono::seconds(120));
    coordinator.kill_hard();
    std::map<std::string, std::string> acknowledged;
    for (std::size_t i = 0; i < swarm.size(); ++i) {
        if (swarm.agent(i).joined) acknowledged[swarm.agent(i).node_id] = swarm.agent(i).address;
    }
    fmt::print("killed the coordinator (SIGKILL) with {} of {} joins acknowledged\n",
               acknowledged.size(), swarm.size());
    coordinator.start(port);
    auto nodes = coordinator.nodes();
    std::map<std::string, std::string> stored(nodes.begin(), nodes.end());
    std::size_t missing = 0, moved = 0;
    for (const auto& [id, address] : acknowledged) {
        auto it = stored.find(id);
        if (it == stored.end()) {
            ++missing;
        } else if (it->second != address) {
            ++moved;
        }
    }
    std::set<std::string> addresses;
    for (const auto& [id, address] : stored) addresses.insert(address);
    expect(missing == 0, fmt::format("every acknowledged join survived the kill ({} of {} lost)",
                                     missing, acknowledged.size()));
    expect(moved == 0, "and kept the address it was given");
    expect(addresses.size() == stored.size(),
           fmt::format("no address went to two nodes ({} nodes, {} addresses)", stored.size(),
                       addresses.size()));
    expect(acknowledged.size() >= static_cast<std::size_t>(o.crash_after),
           "the kill came in the middle of the storm");
    fmt::print("{} passed, {} failed\n", 4 - failures, failures);
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a killed run still leaves its lines
    CLI::App app{"sync_load: simulated agents against a real mesh-coordinator, beside a floor"};
    Options o;
    app.add_option("--agents", o.agents, "Simulated agents")->capture_default_str();
    app.add_option("--trials", o.trials, "Endpoint changes to time")->capture_default_str();
    app.add_flag("--check", o.check, "Check correctness (exit 1 on any miss); no timing asserted");
    app.add_flag("!--no-floor", o.floor, "Skip the floor");
    app.add_option("--idle-seconds", o.idle_seconds, "Idle window for the idle CPU")
        ->capture_default_str();
    app.add_option("--crash-after", o.crash_after, "kill -9 the coordinator after this many joins");
    app.add_flag("--join-only", o.join_only, "Only join (fill a coordinator's map), then exit");
    app.add_flag("--join-first", o.join_first,
                 "Every agent joins before any opens its Sync stream, then all open at once: the "
                 "map fills without a delta per join to every stream (N^2 messages the one "
                 "generator process cannot keep up with at N = 10,000), and the storm columns "
                 "time the streams from their opening");
    app.add_option("--endpoints", o.endpoints, "Endpoints per join (1..16)")->capture_default_str();
    app.add_option("--max-syncing", o.max_syncing,
                   "At most this many simulated agents between opening a stream and holding "
                   "their whole map (0 = no bound): the agents share this one process, where a "
                   "fleet's each have a CPU of their own")
        ->capture_default_str();
    app.add_option("--coordinator-bin", o.coordinator_bin,
                   "mesh-coordinator (default: beside this)");
    app.add_option("--replicas", o.replicas,
                   "Coordinator replicas sharing one etcd (started here, Debian's etcd-server); "
                   "agent i talks to replica i % REPLICAS, and a change made through one reaches "
                   "agents on all of them")
        ->capture_default_str();
    app.add_option("--address", o.address, "An external coordinator's host:port");
    app.add_option("--fingerprint", o.fingerprint, "... its certificate fingerprint");
    app.add_option("--token", o.token, "... a reusable join token");
    app.add_option("--timeout", o.timeout_seconds, "Seconds for the storm to converge");
    int floor_port = 0;
    std::string floor_cert, floor_key;
    app.add_option("--floor-serve", floor_port)->group("");
    app.add_option("--floor-cert", floor_cert)->group("");
    app.add_option("--floor-key", floor_key)->group("");
    CLI11_PARSE(app, argc, argv);
    if (floor_port) return serve_floor(floor_port, floor_cert, floor_key);
    if (sodium_init() < 0) return 1;
    raise_fd_limit();
    const std::string self = fs::canonical("/proc/self/exe").string();
    if (o.coordinator_bin.empty())
        o.coordinator_bin = (fs::path(self).parent_path() / "mesh-coordinator").string();

    std::unique_ptr<CoordinatorProcess> coordinator;
    fs::path run_dir;
    int port = 0;
    std::unique_ptr<EtcdProcess> etcd;
    std::vector<std::unique_ptr<CoordinatorProcess>> more_replicas;
    if (o.address.empty()) {
        run_dir = fs::temp_directory_path() / fs::path("mesh-load-" + std::to_string(getpid()));
        fs::create_directories(run_dir);
        // Every simulated agent comes from 127.0.0.1, where a fleet's hosts come from their own
        // addresses: the per-source bound on streams waiting for their hello is raised to the
        // total one, or the run measures one office behind one NAT.
        auto store_args = [&](int replica) -> std::vector<std::string> {
            std::vector<std::string> args{"--sync-waiting-per-source", "1024"};
            if (!etcd) return args;
            args.insert(args.end(), {"--store", "etcd://" + etcd->endpoint(), "--replica-id",
                                     "r" + std::to_string(replica)});
            return args;
        };
        if (o.replicas > 1) {
            etcd = std::make_unique<EtcdProcess>((run_dir / "etcd").string());
            etcd->start();
        }
        coordinator =
            std::make_unique<CoordinatorProcess>(o.coordinator_bin, (run_dir / "state").string());
        port = free_port();
        coordinator->start(port, store_args(1));
        o.address = coordinator->address();
        o.fingerprint = coordinator->fingerprint();
        o.token = coordinator->create_token();
        for (int r = 2; r <= o.replicas; ++r) {
            const auto dir = run_dir / ("r" + std::to_string(r));
            fs::create_directories(dir);
            more_replicas.push_back(
                std::make_unique<CoordinatorProcess>(o.coordinator_bin, (dir / "state").string()));
            more_replicas.back()->start(free_port(), store_args(r));
        }
    }
    // Every server process the run started (replicas and etcd), summed: what the fleet's control
    // plane costs.
    auto servers = [&] {
        ProcStats total;
        auto add = [&](pid_t pid) {
            auto s = proc_stats(pid);
            total.rss_kib += s.rss_kib;
            total.cpu_seconds += s.cpu_seconds;
            total.threads += s.threads;
        };
        if (coordinator) add(coordinator->pid());
        for (auto& r : more_replicas) add(r->pid());
        if (etcd) add(etcd->pid());
        return total;
    };
    SwarmOptions so;
    so.address = o.address;
    so.fingerprint = o.fingerprint;
    so.token = o.token;
    if (!more_replicas.empty()) {
        so.replicas.emplace_back(coordinator->address(), coordinator->fingerprint());
        for (auto& r : more_replicas) so.replicas.emplace_back(r->address(), r->fingerprint());
    }
    so.agents = o.agents;
    so.sync = !o.join_only && !o.join_first;
    so.endpoints = o.endpoints;
    so.max_syncing = o.max_syncing;
    so.report_after_sync = o.crash_after > 0;
    const ProcStats empty = coordinator ? servers() : ProcStats{};

    if (o.crash_after > 0) {
        if (!coordinator) return 2;
        int rc = 0;
        {
            Swarm swarm(so);
            rc = crash_test(*coordinator, swarm, o, port);
        }
        coordinator->stop();
        fs::remove_all(run_dir);
        return rc;
    }

    auto swarm = std::make_unique<Swarm>(so);
    double client_cpu0 = own_cpu_seconds();
    double coord_cpu0 = empty.cpu_seconds;
    std::int64_t t0 = now_ns();
    swarm->start();
    const std::size_t n = o.agents;
    const auto limit = std::chrono::seconds(o.timeout_seconds ? o.timeout_seconds
                                                              : 30 + static_cast<int>(n / 100));
    auto all = [&](auto pred) {
        for (std::size_t i = 0; i < n; ++i) {
            if (!pred(swarm->agent(i))) return false;
        }
        return true;
    };
    bool joined =
        wait_for([&] { return all([](SimAgent& a) { return a.joined || a.done; }); }, limit);
    std::int64_t last_join = 0;
    for (std::size_t i = 0; i < n; ++i)
        last_join = std::max<std::int64_t>(last_join, swarm->agent(i).joined_at);
    const double join_seconds = seconds_since(t0, last_join);
    if (o.join_only) {
        const int failed = swarm->join_failures.load();
        fmt::print("joined {} of {} agents in {:.2f} s ({} failed)\n", n - failed, n, join_seconds,
                   failed);
        swarm.reset();
        if (coordinator) coordinator->stop();
        return failed == 0 ? 0 : 1;
    }
    if (o.join_first && joined) {
        fmt::print(stderr, "sync_load: {} agents joined in {:.1f} s; every stream opens now\n", n,
                   join_seconds);
        client_cpu0 = own_cpu_seconds();
        coord_cpu0 = coordinator ? servers().cpu_seconds : 0;
        t0 = now_ns();
        swarm->open_streams();
    }
    const int peers = static_cast<int>(n) - 1;
    // A long storm says where it is every 30 s (on stderr), so a stall shows as one.
    auto storm_wait = [&](auto pred) {
        auto next_report = Clock::now() + std::chrono::seconds(30);
        return wait_for(
            [&] {
                if (all(pred)) return true;
                if (Clock::now() >= next_report) {
                    next_report += std::chrono::seconds(30);
                    std::size_t complete_n = 0, ready_n = 0, streams = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        auto& a = swarm->agent(i);
                        complete_n += a.peers_known == peers;
                        ready_n += a.peers_ready == peers;
                        streams += a.streaming();
                    }
                    fmt::print(stderr,
                               "sync_load: {:.0f} s: {} agents with the whole map, {} with every "
                               "pair ready, {} streams open, of {}\n",
                               seconds_since(t0, now_ns()), complete_n, ready_n, streams, n);
                }
                return false;
            },
            limit);
    };
    bool complete = storm_wait([&](SimAgent& a) { return a.peers_known == peers; });
    bool ready = storm_wait([&](SimAgent& a) { return a.peers_ready == peers; });
    if (!ready) report_unready(*swarm, std::max(1, o.replicas));
    std::int64_t last_complete = 0, last_ready = 0;
    for (std::size_t i = 0; i < n; ++i) {
        last_complete = std::max<std::int64_t>(last_complete, swarm->agent(i).complete_at);
        last_ready = std::max<std::int64_t>(last_ready, swarm->agent(i).ready_at);
    }
    const double storm_client_cpu = own_cpu_seconds() - client_cpu0;
    const ProcStats converged = coordinator ? servers() : ProcStats{};
    const double storm_coord_cpu = converged.cpu_seconds - coord_cpu0;
    const double storm_seconds = seconds_since(t0, now_ns());

    // Idle: everyone connected, nothing changing.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double idle0 = coordinator ? servers().cpu_seconds : 0;
    std::this_thread::sleep_for(std::chrono::seconds(o.idle_seconds));
    const double idle_cpu = coordinator ? (servers().cpu_seconds - idle0) / o.idle_seconds : 0;
    // What it holds with everyone connected, once the storm's transient buffers went back.
    const ProcStats steady = coordinator ? servers() : ProcStats{};

    const double trials_coord0 = coordinator ? servers().cpu_seconds : 0;
    const double trials_client0 = own_cpu_seconds();
    TrialResults trials = run_trials(*swarm, o.trials);
    const double change_coord_cpu =
        coordinator ? (servers().cpu_seconds - trials_coord0) / std::max(1, o.trials) : 0;
    const double change_client_cpu = (own_cpu_seconds() - trials_client0) / std::max(1, o.trials);
    auto lat = percentiles(trials.latencies_ms);
    // At once, on stderr: a run that fails later still leaves its measurement.
    fmt::print(stderr, "sync_load: change -> N-1 p50 / p99 / max {:.1f} / {:.1f} / {:.1f} ms\n",
               lat.p50, lat.p99, lat.max);

    // Correctness: every stream in order, every receiver every change, every pair ready, all at
    // the coordinator's version.
    std::uint64_t order_errors = 0;
    for (std::size_t i = 0; i < n; ++i) order_errors += swarm->agent(i).order_errors;
    std::uint64_t final_version = 0;
    bool version_known = true;
    try {
        if (coordinator) final_version = coordinator->map_version();
    } catch (const std::exception& e) {
        fmt::print(stderr, "sync_load: the coordinator's version: {}\n", e.what());
        version_known = false;
    }
    bool same_version = !coordinator;
    if (coordinator && version_known) {
        same_version = wait_for(
            [&] { return all([&](SimAgent& a) { return a.version.load() == final_version; }); },
            std::chrono::seconds(10));
    }
    int shown = 0;
    for (std::size_t i = 0; i < n && shown < 5; ++i) {
        auto& a = swarm->agent(i);
        if (a.peers_known == peers && a.peers_ready == peers) continue;
        ++shown;
        fmt::print(
            "  agent {} ({}): {} peers, {} ready, version {}, {} messages, {} reconnects, "
            "last status {} '{}'\n",
            i, a.node_id, a.peers_known.load(), a.peers_ready.load(), a.version.load(),
            a.messages.load(), a.reconnects.load(), static_cast<int>(a.final_status.error_code()),
            a.final_status.error_message());
    }
    expect(swarm->join_failures == 0 && joined, fmt::format("all {} agents joined", n));
    expect(complete, fmt::format("every agent holds the complete map ({} peers)", peers));
    expect(ready, "every pair is ready (both sides told)");
    expect(
        order_errors == 0,
        fmt::format("every delta started where the last message ended ({} errors)", order_errors));
    expect(trials.complete_trials == o.trials,
           fmt::format("every endpoint change reached all {} receivers ({} of {} trials)", peers,
                       trials.complete_trials, o.trials));
    expect(same_version, "every agent is at the coordinator's version");

    // Memory beyond the map: the same state loaded by an idle coordinator.
    double rss_map_kib = 0;
    if (coordinator && more_replicas.empty()) {
        fs::path copy = run_dir / "copy";
        fs::create_directories(copy);
        fs::copy(run_dir / "state" / "coordinator.db", copy / "coordinator.db");
        fs::copy(run_dir / "state" / "tls", copy / "tls");
        fs::permissions(copy, fs::perms::owner_all);
        CoordinatorProcess idle(o.coordinator_bin, copy.string());
        idle.start(free_port());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        rss_map_kib = static_cast<double>(proc_stats(idle.pid()).rss_kib);
        idle.stop();
    }
    std::size_t delta_size = 200;
    if (trials.bytes_per_receiver > 0)
        delta_size = static_cast<std::size_t>(trials.bytes_per_receiver);
    swarm.reset();  // the agents' connections go before the floor's arrive

    Percentiles floor;
    double floor_cpu = 0;
    std::uint64_t floor_rss_kib = 0;
    if (o.floor && !o.check) {
        floor = run_floor(self, n, o.trials, delta_size, floor_cpu, floor_rss_kib);
    }

    // A phase that did not finish within the limit shows as "> limit", never as a time.
    const auto phase = [&](bool finished, std::int64_t at) {
        return finished ? fmt::format("{:.2f} s", seconds_since(t0, at))
                        : fmt::format("> {} s", limit.count());
    };
    const std::string join_rate = joined && join_seconds > 0
                                      ? fmt::format("{:.0f}/s", n / join_seconds)
                                      : fmt::format("not all in {} s", limit.count());
    fmt::print(
        "\n| N | join rate | all hold the map | all pairs ready | change -> N-1 p50 / p99 / max | "
        "floor p50 / p99 / max | p99 / floor | coord CPU per change | bytes per receiver per "
        "change | coord RSS per agent beyond the map | idle coord CPU | threads | generator CPU "
        "(storm; per change) |\n");
    fmt::print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fmt::print(
        "| {} | {} | {} | {} | {:.1f} / {:.1f} / {:.1f} ms | {} | {} | {:.3f} s "
        "| {:.0f} B | {:.1f} KiB | {:.1f}% | {} | {:.1f} s of {:.1f} s; {:.3f} s |\n",
        more_replicas.empty() ? fmt::format("{}", n)
                              : fmt::format("{} ({} replicas)", n, o.replicas),
        join_rate, phase(complete, last_complete), phase(ready, last_ready), lat.p50, lat.p99,
        lat.max,
        floor.n ? fmt::format("{:.1f} / {:.1f} / {:.1f} ms", floor.p50, floor.p99, floor.max)
                : std::string("-"),
        floor.n && floor.p99 > 0 ? fmt::format("{:.2f}x", lat.p99 / floor.p99) : std::string("-"),
        change_coord_cpu, trials.bytes_per_receiver,
        coordinator ? (static_cast<double>(steady.rss_kib) - rss_map_kib) / static_cast<double>(n)
                    : 0.0,
        idle_cpu * 100, steady.threads, storm_client_cpu, storm_seconds, change_client_cpu);
    fmt::print(
        "coordinator: RSS {:.1f} MiB right after the storm, {:.1f} MiB steady, {:.1f} MiB idle "
        "with the same map, {:.1f} MiB empty; CPU {:.1f} s during the storm; floor server CPU "
        "{:.3f} s per broadcast, RSS {:.1f} KiB per stream\n",
        converged.rss_kib / 1024.0, steady.rss_kib / 1024.0, rss_map_kib / 1024.0,
        empty.rss_kib / 1024.0, storm_coord_cpu, floor_cpu,
        static_cast<double>(floor_rss_kib) / static_cast<double>(n));
    fmt::print("{} passed, {} failed\n", 6 - failures, failures);
    for (auto& r : more_replicas) r->stop();
    if (coordinator) coordinator->stop();
    if (etcd) etcd->stop();
    if (!run_dir.empty()) fs::remove_all(run_dir);
    return o.check && failures ? 1 : 0;
}
