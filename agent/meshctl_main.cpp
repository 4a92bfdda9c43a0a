// meshctl: the operator's command on a host; talks to the local mesh-agent.
#include <fmt/core.h>
#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <thread>

#include "agent/coordinator_list.hpp"
#include "agent/logout.hpp"
#include "agent/netcheck_view.hpp"
#include "agent/ping_view.hpp"
#include "agent/status_view.hpp"
#include "agent/token_file.hpp"
#include "kmod-bridge/version.hpp"
#include "local_socket.hpp"
#include "mesh/v1/agent.grpc.pb.h"

namespace {

int fail(const std::string& what) {
    fmt::print(stderr, "meshctl: {}\n", what);
    return 1;
}

std::string explain(const grpc::Status& status, const std::string& socket) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        status.error_message().find("coordinator") == std::string::npos) {
        return "cannot reach mesh-agent at " + socket +
               " (is it running? start it with `mesh-agent` or `systemctl start mesh-agent`)";
    }
    return status.error_message();
}

std::unique_ptr<mesh::v1::Agent::Stub> connect(const std::string& socket) {
    return mesh::v1::Agent::NewStub(mesh::local::local_channel(socket));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"meshctl: control this host's mesh agent"};
    app.require_subcommand(1);
    app.set_version_flag("--version", mesh::version_line("meshctl"));
    std::string socket = "/run/mesh/agent.sock";
    app.add_option("--socket", socket, "The agent's local socket")->capture_default_str();

    std::string coordinator, token, token_file, hostname, fingerprint, container_subnet;
    auto* join = app.add_subcommand("join", "Join this host to a mesh");
    join->add_option("coordinator", coordinator,
                     "Coordinator address, host:port; for a coordinator run as several replicas, "
                     "every replica comma-separated (host:port,host:port,...): the join goes to "
                     "one of them and the agent fails over between them from then on")
        ->required();
    auto* token_file_option = join->add_option(
        "--token-file", token_file,
        "File holding the join token from `mesh-coordinator token create`; - reads it from "
        "stdin. Keeps the token out of the process list and shell history");
    auto* token_option = join->add_option(
        "--token", token,
        "The join token itself (visible to every user in the process list while the join runs: "
        "prefer --token-file)");
    token_file_option->excludes(token_option);
    join->callback([&] {
        if (token_file_option->count() == 0 && token_option->count() == 0) {
            throw CLI::RequiredError("--token-file FILE (or - for stdin) or --token");
        }
    });
    join->add_option("--fingerprint", fingerprint,
                     "The coordinator's certificate fingerprint (sha256:...), as in the join "
                     "command `mesh-coordinator token create` prints; anything else is refused. "
                     "With several replicas: one fingerprint when they share a certificate, or "
                     "one per replica, comma-separated in the order of the addresses")
        ->required();
    join->add_option("--hostname", hostname, "Name in the mesh (default: this host's name)");
    join->footer(
        "Examples:\n"
        "  meshctl join 192.0.2.10:7443 --token-file T --fingerprint sha256:AAAA...\n"
        "  meshctl join 192.0.2.10:7443,192.0.2.11:7443,192.0.2.12:7443 --token-file T \\\n"
        "      --fingerprint sha256:AAAA...                 (one certificate on every replica)\n"
        "  meshctl join 192.0.2.10:7443,192.0.2.11:7443 --token-file T \\\n"
        "      --fingerprint sha256:AAAA...,sha256:BBBB...  (one per replica, in that order)");
    join->add_option("--container-subnet", container_subnet,
                     "This host's container subnet, routed to it by every peer: auto (a block "
                     "of the coordinator's container pool, kept across re-joins), a prefix such "
                     "as 10.250.3.0/24 (refused when it overlaps another host's), or none. "
                     "Default: what the host has (mesh-agent --container-subnet for a first "
                     "join)");
    auto* rotate = app.add_subcommand(
        "rotate-key", "Replace this node's WireGuard key now (done by itself before expiry)");

    bool json = false;
    auto* status = app.add_subcommand(
        "status",
        "Show this node and its peers. Exit code: 0 joined and connected, 2 not joined (or "
        "removed), 3 joined but not connected to the coordinator, 1 when the agent cannot be "
        "asked");
    status->add_flag("--json", json, "Machine-readable output");

    std::string ping_peer;
    unsigned ping_count = 4;
    unsigned ping_timeout_ms = 1000;
    bool until_direct = false, ping_json = false;
    auto* ping = app.add_subcommand(
        "ping",
        "Send authenticated path probes to a peer (from the WireGuard port, as the agent probes "
        "paths) and print, per reply, the path that answered (lan or nat-direct, as `meshctl "
        "status` names them), the endpoint and the round-trip time. A peer relayed through TURN "
        "answers no probe: the line says `no answer ... (path in use: relay)`. Exit code: 0 "
        "some probe was answered, 1 none was (or the agent cannot be asked), 2 bad input such "
        "as an unknown peer");
    ping->add_option("peer", ping_peer, "The peer: its hostname, node id or overlay address")
        ->required();
    ping->add_option("-c,--count", ping_count, "Rounds of probes to send, one a second")
        ->check(CLI::Range(1u, 1000u))
        ->capture_default_str();
    ping->add_option("--timeout", ping_timeout_ms, "How long each round waits for an answer, ms")
        ->check(CLI::Range(1u, 30000u))
        ->capture_default_str();
    ping->add_flag("--until-direct", until_direct,
                   "Stop at the first answer over a direct path (lan or nat-direct); exit 1 if "
                   "none came within --count rounds");
    ping->add_flag("--json", ping_json, "One JSON object per round");

    auto* down = app.add_subcommand(
        "down",
        "Leave the mesh on this host without removing the node: the device loses its peers and "
        "routes, the agent stops syncing, and it stays so across restarts until `meshctl up`. "
        "The coordinator keeps the node (other hosts see it offline)");
    auto* up = app.add_subcommand(
        "up",
        "Come back after `meshctl down`: every tunnel is restored with the same node id, keys and "
        "addresses, without a new join");

    bool logout_force = false;
    auto* logout = app.add_subcommand(
        "logout",
        "Remove this node from the mesh: the coordinator forgets it (as `mesh-coordinator nodes "
        "remove` would) and every peer drops it; this host loses its peers, routes and device, "
        "and its node identity and keys are deleted. The agent keeps running, not joined: "
        "`meshctl join` with a new token joins again as a new node. When the coordinator cannot "
        "be reached (or refuses), nothing changes here unless --force");
    logout->add_flag("--force", logout_force,
                     "Clear this host even when the coordinator cannot be reached or refuses; the "
                     "node then stays in the mesh until the operator removes it");

    bool netcheck_json = false;
    auto* netcheck = app.add_subcommand(
        "netcheck",
        "Report why this host is or is not direct: UDP reachability and the NAT type of the "
        "WireGuard port (from the coordinator's two STUN ports: endpoint-independent NATs allow "
        "hole punching, endpoint-dependent ones need the relay for most peers), the reflexive "
        "address, whether the gateway offers NAT-PMP/PCP port mapping, IPv6, and the "
        "coordinator's reachability and TCP connect time. The agent runs the checks");
    netcheck->add_flag("--json", netcheck_json, "Machine-readable output");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        // ping's documented exit code for bad input (help and --version exit 0).
        return code != 0 && ping->parsed() ? 2 : code;
    }
    auto stub = connect(socket);
    if (join->parsed()) {
        // Checked here too, so a malformed list is one line before anything is asked of the agent.
        try {
            mesh::agent::parse_coordinator_list(coordinator, fingerprint);
        } catch (const std::exception& e) {
            return fail(e.what());
        }
        if (!token_file.empty()) {
            try {
                token = mesh::agent::read_token_file(token_file);
            } catch (const std::exception& e) {
                return fail(e.what());
            }
        }
        mesh::v1::LocalJoinRequest request;
        request.set_coordinator(coordinator);
        request.set_token(token);
        request.set_hostname(hostname);
        request.set_fingerprint(fingerprint);
        request.set_container_subnet(container_subnet);
        mesh::v1::LocalJoinResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        auto s = stub->Join(&context, request, &response);
        if (!s.ok()) return fail("join failed: " + explain(s, socket));
        std::string addresses;
        for (const auto& a : response.addresses()) addresses += (addresses.empty() ? "" : " ") + a;
        fmt::print("joined as {} ({}), addresses {}\n", response.hostname(), response.node_id(),
                   addresses);
        std::string subnets;
        for (const auto& c : response.container_subnets()) {
            subnets += (subnets.empty() ? "" : " ") + c;
        }
        if (!subnets.empty()) fmt::print("container subnet {}\n", subnets);
        return 0;
    }
    if (rotate->parsed()) {
        mesh::v1::RotateKeyResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        auto s = stub->RotateKey(&context, {}, &response);
        if (!s.ok()) return fail("rotate-key failed: " + explain(s, socket));
        fmt::print("new WireGuard public key {} sent; peers switch as the map reaches them\n",
                   response.public_key());
        return 0;
    }
    if (ping->parsed()) {
        std::vector<mesh::v1::PingResponse> replies;
        do {
            const auto round_start = std::chrono::steady_clock::now();
            mesh::v1::PingRequest request;
            request.set_peer(ping_peer);
            request.set_timeout_ms(ping_timeout_ms);
            mesh::v1::PingResponse response;
            grpc::ClientContext context;
            context.set_deadline(std::chrono::system_clock::now() +
                                 std::chrono::milliseconds(ping_timeout_ms + 5000));
            auto s = stub->Ping(&context, request, &response);
            if (s.error_code() == grpc::StatusCode::NOT_FOUND ||
                s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
                fail(s.error_message());
                return 2;
            }
            if (!s.ok()) return fail("ping failed: " + explain(s, socket));
            fmt::print("{}", ping_json ? mesh::agent::render_ping_json(response)
                                       : mesh::agent::render_ping_line(response, ping_timeout_ms));
            std::fflush(stdout);
            replies.push_back(response);
            if (!mesh::agent::ping_again(replies, ping_count, until_direct)) break;
            std::this_thread::sleep_until(round_start + std::chrono::seconds(1));
        } while (true);
        return mesh::agent::ping_exit_code(replies);
    }
    if (down->parsed() || up->parsed()) {
        mesh::v1::SetDownRequest request;
        request.set_down(down->parsed());
        mesh::v1::SetDownResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        auto s = stub->SetDown(&context, request, &response);
        const char* verb = down->parsed() ? "down" : "up";
        if (!s.ok()) return fail(std::string(verb) + " failed: " + explain(s, socket));
        if (down->parsed()) {
            fmt::print("{}", response.changed() ? "left the mesh; `meshctl up` comes back\n"
                                                : "already down\n");
        } else {
            fmt::print("{}", response.changed()
                                 ? "back in the mesh; tunnels come up as peers answer\n"
                                 : "already up\n");
        }
        return 0;
    }
    if (logout->parsed()) {
        mesh::v1::LogoutRequest request;
        request.set_force(logout_force);
        mesh::v1::LogoutResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        auto s = stub->Logout(&context, request, &response);
        if (!s.ok()) return fail("logout failed: " + explain(s, socket));
        fmt::print("{}", mesh::agent::render_logout_line(response));
        return 0;
    }
    if (netcheck->parsed()) {
        mesh::v1::NetcheckResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        auto s = stub->Netcheck(&context, {}, &response);
        if (!s.ok()) return fail("netcheck failed: " + explain(s, socket));
        fmt::print("{}", netcheck_json ? mesh::agent::render_netcheck_json(response)
                                       : mesh::agent::render_netcheck_table(response));
        return 0;
    }
    if (status->parsed()) {
        mesh::v1::StatusResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        auto s = stub->Status(&context, {}, &response);
        if (!s.ok()) return fail(explain(s, socket));
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        fmt::print("{}", json ? mesh::agent::render_status_json(response)
                              : mesh::agent::render_status_table(response, now));
        return mesh::agent::status_exit_code(response);
    }
    return 0;
}
