// meshctl: the operator's command on a host; talks to the local mesh-agent.
#include <fmt/core.h>
#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include <chrono>

#include "agent/coordinator_list.hpp"
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

    CLI11_PARSE(app, argc, argv);
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
