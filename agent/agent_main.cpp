// mesh-agent: the per-host daemon. Keeps the WireGuard device equal to the coordinator's map.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

#include <filesystem>

#include "agent/agent.hpp"
#include "agent/local_api.hpp"
#include "kmod-bridge/dir_lock.hpp"
#include "kmod-bridge/files.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "kmod-bridge/version.hpp"

namespace {

// Every few seconds: report changed endpoints and repair drift in the device.
void schedule_tick(boost::asio::steady_timer& timer, mesh::agent::Agent& agent) {
    timer.expires_after(std::chrono::seconds(5));
    timer.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        agent.tick();
        schedule_tick(timer, agent);
    });
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mesh-agent: joins this host to the mesh and keeps its WireGuard device in sync"};
    mesh::agent::AgentOptions options;
    std::string socket = "/run/mesh/agent.sock";
    std::string log_level = "info";
    app.add_option("--state-dir", options.state_dir, "Keys and state (created 0700)")
        ->capture_default_str();
    app.add_option("--socket", socket, "Local API socket for meshctl")->capture_default_str();
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
    unsigned check_ms = static_cast<unsigned>(options.paths.check_interval.count());
    app.add_option("--path-check-ms", check_ms,
                   "How often the endpoint in use is probed (keeps NAT mappings open, finds a "
                   "dead path after two misses)")
        ->capture_default_str()
        ->check(CLI::Range(50, 60000));
    unsigned idle_check_ms = static_cast<unsigned>(options.paths.idle_check_interval.count());
    app.add_option("--path-idle-check-ms", idle_check_ms,
                   "The same for a peer whose tunnel carried no traffic for 30 s")
        ->capture_default_str()
        ->check(CLI::Range(50, 600000));
    bool no_probing = false;
    app.add_flag("--no-path-probing", no_probing,
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
    std::string cni_conf_dir = options.containers.cni_conf_dir;
    app.add_option("--cni-conf-dir", cni_conf_dir,
                   "Where the CNI network configuration for this host's container subnet is "
                   "written (10-NAME.conflist); off = write none")
        ->capture_default_str();
    std::string cni_name, cni_bridge;
    app.add_option("--cni-network-name", cni_name,
                   "The CNI network's name (default: the interface name)");
    app.add_option("--cni-bridge", cni_bridge,
                   "The bridge the CNI bridge plugin attaches containers to (default: "
                   "cni-INTERFACE)");
    app.add_option("--cni-ipam-dir", options.containers.cni.ipam_data_dir,
                   "host-local's lease directory (default: the plugin's, "
                   "/var/lib/cni/networks)");
    std::vector<std::string> container_allow;
    app.add_option("--container-allow", container_allow,
                   "A range beside private-use space (10/8, 172.16/12, 192.168/16, 100.64/10, "
                   "fc00::/7) that peers' container subnets may come from (repeatable)");
    bool no_masquerade = false;
    app.add_flag("--no-container-masquerade", no_masquerade,
                 "Do not masquerade this host's containers' traffic to the outside (its own "
                 "NAT rules do it, or the containers' addresses are routed)");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.set_version_flag("--version", mesh::version_line("mesh-agent"));
    CLI11_PARSE(app, argc, argv);
    options.paths.check_interval = std::chrono::milliseconds(check_ms);
    options.paths.idle_check_interval = std::chrono::milliseconds(idle_check_ms);
    options.probing = !no_probing;
    options.containers.cni_conf_dir = cni_conf_dir == "off" ? "" : cni_conf_dir;
    options.containers.masquerade = !no_masquerade;
    const auto& interface = options.data_plane.interface;
    options.containers.cni.network_name = cni_name.empty() ? interface : cni_name;
    options.containers.cni.bridge =
        cni_bridge.empty() ? ("cni-" + interface).substr(0, 15) : cni_bridge;
    try {
        for (const auto& a : container_allow) {
            options.container_allow.push_back(mesh::kb::IpPrefix::parse(a).masked());
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "mesh-agent: --container-allow: {}\n", e.what());
        return 2;
    }
    spdlog::set_level(spdlog::level::from_str(log_level));
    options.data_plane.log_file = options.state_dir + "/wireguard-go.log";

    try {
        mesh::kb::ensure_private_dir(options.state_dir);
        mesh::DirLock lock(options.state_dir, "agent.lock", "mesh-agent");
        mesh::agent::Agent agent(options);
        agent.start();
        mesh::agent::LocalApi api(agent);
        auto server = std::make_unique<mesh::agent::LocalApiServer>(api, socket);
        spdlog::info("event=started socket={} interface={} listen_port={} release={} commit={}",
                     socket, options.data_plane.interface, options.listen_port, mesh::version(),
                     mesh::commit());

        boost::asio::io_context io;
        boost::asio::signal_set signals(io, SIGINT, SIGTERM);
        boost::asio::steady_timer timer(io);
        signals.async_wait([&](const boost::system::error_code&, int signal) {
            spdlog::info("event=stopping signal={}", signal);
            timer.cancel();
            io.stop();
        });
        schedule_tick(timer, agent);
        io.run();

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
