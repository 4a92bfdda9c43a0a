// mesh-agent: the per-host daemon. Keeps the WireGuard device equal to the coordinator's map.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

#include <filesystem>

#include "agent/agent.hpp"
#include "agent/local_api.hpp"
#include "agent/metrics_listener.hpp"
#include "kmod-bridge/daemon/cli_config.hpp"
#include "kmod-bridge/daemon/log_output.hpp"
#include "kmod-bridge/daemon/systemd_notify.hpp"
#include "kmod-bridge/dir_lock.hpp"
#include "kmod-bridge/files.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "kmod-bridge/version.hpp"

namespace {

// One line for systemctl status.
std::string status_line(mesh::agent::Agent& agent) {
    const auto status = agent.status();
    if (!status.joined) return "not joined: run meshctl join";
    return "joined as " + status.hostname + ", " + std::to_string(status.peers.size()) +
           " peers, coordinator " + (status.connected ? "connected" : "unreachable");
}

// Every few seconds: report changed endpoints and repair drift in the device.
void schedule_tick(boost::asio::steady_timer& timer, mesh::agent::Agent& agent) {
    timer.expires_after(std::chrono::seconds(5));
    timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        agent.tick();
        mesh::daemon::notify_status(status_line(agent));
        schedule_tick(timer, agent);
    });
}

// WATCHDOG=1 from the main loop (the one running the tick): a hung loop stops the pings.
void schedule_watchdog(boost::asio::steady_timer& timer, std::chrono::milliseconds period) {
    timer.expires_after(period);
    timer.async_wait([&timer, period](const boost::system::error_code& ec) {
        if (ec) return;
        mesh::daemon::notify_watchdog();
        schedule_watchdog(timer, period);
    });
}

// Everything the command line (and the config file) sets.
struct AgentCli {
    mesh::agent::AgentOptions options;
    std::string socket = "/run/mesh/agent.sock";
    std::string log_level = "info";
    std::string log_format = "text";
    unsigned check_ms = 0;
    unsigned idle_check_ms = 0;
    bool no_probing = false;
    std::string cni_conf_dir;
    std::string cni_name, cni_bridge;
    std::vector<std::string> container_allow;
    bool no_masquerade = false;
    std::string metrics_listen;
};

// mesh-agent's options; a config file's keys are named after them (agent.toml).
void add_options(CLI::App& app, AgentCli& cli) {
    auto& options = cli.options;
    app.add_option("--state-dir", options.state_dir, "Keys and state (created 0700)")
        ->capture_default_str();
    app.add_option("--socket", cli.socket, "Local API socket for meshctl")->capture_default_str();
    app.add_option("--interface", options.data_plane.interface, "WireGuard interface name")
        ->capture_default_str();
    app.add_option("--listen-port", options.listen_port, "WireGuard UDP port")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535));
    app.add_option("--wireguard-go", options.data_plane.wireguard_go,
                   "Userspace WireGuard binary (used when the kernel has no WireGuard)")
        ->capture_default_str();
    app.add_option("--driver", options.data_plane.driver,
                   "auto (the kernel's WireGuard if present, else wireguard-go), kernel, userspace")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "kernel", "userspace"}));
    app.add_option("--stun", options.stun_servers,
                   "STUN server host:port to learn this host's NAT mapping from (repeatable; "
                   "default: the coordinator's responder)");
    cli.check_ms = static_cast<unsigned>(options.paths.check_interval.count());
    app.add_option("--path-check-ms", cli.check_ms,
                   "How often the endpoint in use is probed (keeps NAT mappings open, finds a "
                   "dead path after two misses)")
        ->capture_default_str()
        ->check(CLI::Range(50, 60000));
    cli.idle_check_ms = static_cast<unsigned>(options.paths.idle_check_interval.count());
    app.add_option("--path-idle-check-ms", cli.idle_check_ms,
                   "The same for a peer whose tunnel carried no traffic for 30 s")
        ->capture_default_str()
        ->check(CLI::Range(50, 600000));
    app.add_flag("--no-path-probing", cli.no_probing,
                 "No STUN and no probes from the WireGuard port (needs no CAP_NET_RAW); peers get "
                 "their first candidate");
    app.add_option("--container-subnet", options.container_subnet,
                   "Container subnet a join asks for when meshctl join does not say: auto (a "
                   "block of the coordinator's pool), a prefix, or none; default: keep what the "
                   "host has")
        ->check([](const std::string& value) -> std::string {
            if (value == "auto" || value == "none") return {};
            try {
                mesh::kb::IpPrefix::parse(value);
                return {};
            } catch (const std::exception&) {
                return "expected auto, none or a prefix such as 10.250.3.0/24";
            }
        });
    cli.cni_conf_dir = options.containers.cni_conf_dir;
    app.add_option("--cni-conf-dir", cli.cni_conf_dir,
                   "Where the CNI network configuration for this host's container subnet is "
                   "written (10-NAME.conflist); off = write none")
        ->capture_default_str();
    app.add_option("--cni-network-name", cli.cni_name,
                   "The CNI network's name (default: the interface name)");
    app.add_option("--cni-bridge", cli.cni_bridge,
                   "The bridge the CNI bridge plugin attaches containers to (default: "
                   "cni-INTERFACE)");
    app.add_option("--cni-ipam-dir", options.containers.cni.ipam_data_dir,
                   "host-local's lease directory (default: the plugin's, "
                   "/var/lib/cni/networks)");
    app.add_option("--container-allow", cli.container_allow,
                   "A range beside private-use space (10/8, 172.16/12, 192.168/16, 100.64/10, "
                   "fc00::/7) that peers' container subnets may come from (repeatable)")
        ->check([](const std::string& value) -> std::string {
            try {
                mesh::kb::IpPrefix::parse(value);
                return {};
            } catch (const std::exception& e) {
                return e.what();
            }
        });
    app.add_flag("--no-container-masquerade", cli.no_masquerade,
                 "Do not masquerade this host's containers' traffic to the outside (its own "
                 "NAT rules do it, or the containers' addresses are routed)");
    app.add_option("--metrics-listen", cli.metrics_listen,
                   "Serve /metrics (Prometheus text: peers by path, handshake age and bytes per "
                   "peer, reconciles, Sync reconnects, probe and STUN counts) on HOST:PORT, with "
                   "no credential: loopback or the host's mesh address; default off");
    app.add_option("--log-format", cli.log_format,
                   "text (on the journal: no time, a syslog priority per line) or json (one "
                   "object per line with the same keys)")
        ->capture_default_str()
        ->check(CLI::IsMember({"text", "json"}));
    app.add_option("--log-level", cli.log_level, "trace, debug, info, warn, error, critical or off")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mesh-agent: joins this host to the mesh and keeps its WireGuard device in sync"};
    AgentCli cli;
    add_options(app, cli);
    app.set_version_flag("--version", mesh::version_line("mesh-agent"));
    bool print_config = false;
    app.add_flag("--print-config", print_config,
                 "Print the effective settings (the config file and the options) as TOML and exit")
        ->configurable(false);
    auto config = mesh::daemon::ConfigFile::install(app, mesh::daemon::config_keys(app),
                                                    mesh::daemon::parse_into_fresh(&add_options),
                                                    "/etc/mesh/agent.toml");
    if (auto code = mesh::daemon::parse_command_line(app, *config, "mesh-agent", argc, argv)) {
        return *code;
    }
    if (print_config) {
        fmt::print("{}", mesh::daemon::effective_config(
                             app, mesh::daemon::config_keys(app),
                             "mesh-agent settings (" + config->path() + " and the command line)"));
        return 0;
    }
    auto& options = cli.options;
    const auto& socket = cli.socket;
    options.paths.check_interval = std::chrono::milliseconds(cli.check_ms);
    options.paths.idle_check_interval = std::chrono::milliseconds(cli.idle_check_ms);
    options.probing = !cli.no_probing;
    options.containers.cni_conf_dir = cli.cni_conf_dir == "off" ? "" : cli.cni_conf_dir;
    options.containers.masquerade = !cli.no_masquerade;
    const auto& interface = options.data_plane.interface;
    options.containers.cni.network_name = cli.cni_name.empty() ? interface : cli.cni_name;
    options.containers.cni.bridge =
        cli.cni_bridge.empty() ? ("cni-" + interface).substr(0, 15) : cli.cni_bridge;
    try {
        for (const auto& a : cli.container_allow) {
            options.container_allow.push_back(mesh::kb::IpPrefix::parse(a).masked());
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "mesh-agent: --container-allow: {}\n", e.what());
        return 2;
    }
    mesh::daemon::setup_logging(*mesh::daemon::parse_log_format(cli.log_format), cli.log_level);
    options.data_plane.log_file = options.state_dir + "/wireguard-go.log";

    try {
        mesh::kb::ensure_private_dir(options.state_dir);
        mesh::DirLock lock(options.state_dir, "agent.lock", "mesh-agent");
        mesh::agent::Agent agent(options);
        agent.start();
        mesh::agent::LocalApi api(agent);
        auto server = std::make_unique<mesh::agent::LocalApiServer>(api, socket);
        auto metrics = mesh::agent::start_metrics_listener(cli.metrics_listen, agent);
        spdlog::info("event=started socket={} interface={} listen_port={} release={} commit={}",
                     socket, options.data_plane.interface, options.listen_port, mesh::version(),
                     mesh::commit());

        boost::asio::io_context io;
        boost::asio::signal_set signals(io, SIGINT, SIGTERM);
        boost::asio::steady_timer timer(io);
        boost::asio::steady_timer watchdog(io);
        signals.async_wait([&](const boost::system::error_code&, int signal) {
            spdlog::info("event=stopping signal={}", signal);
            mesh::daemon::notify_stopping("stopping");
            timer.cancel();
            watchdog.cancel();
            io.stop();
        });
        schedule_tick(timer, agent);
        // The local API is up and the device restored from the saved map (fail static) with
        // the Sync stream started: ready, whether or not the coordinator answers yet.
        mesh::daemon::notify_ready(status_line(agent));
        if (const auto timeout = mesh::daemon::watchdog_timeout(); timeout.count() > 0) {
            mesh::daemon::notify_watchdog();
            schedule_watchdog(watchdog, mesh::daemon::watchdog_period(timeout));
        }
        io.run();

        metrics.reset();
        server.reset();  // no more meshctl; removes the socket
        agent.stop();
        spdlog::info("event=stopped");
    } catch (const std::exception& e) {
        spdlog::critical("event=fatal error={}", mesh::kb::log_quote(e.what()));
        fmt::print(stderr, "mesh-agent: {}\n", e.what());
        return 1;
    }
    return 0;
}
