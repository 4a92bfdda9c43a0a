// mesh-coordinator: the server (`serve`) and the operator's commands (`token`, `nodes`).
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "coordinator/operator_cli.hpp"
#include "coordinator/server.hpp"

int main(int argc, char** argv) {
    CLI::App app{"mesh-coordinator: hands out keys, addresses and endpoints to mesh agents"};
    app.require_subcommand(1);
    std::string state_dir = "/var/lib/mesh-coordinator";
    std::string admin_socket;
    app.add_option("--state-dir", state_dir, "Directory holding the database and admin socket")
        ->capture_default_str();
    app.add_option("--admin-socket", admin_socket,
                   "Operator socket (default: STATE_DIR/admin.sock)");

    mesh::coord::ServerOptions server;
    std::string log_level = "info";
    auto* serve = app.add_subcommand("serve", "Run the coordinator");
    serve->add_option("--listen", server.listen, "Address for agents (host:port)")
        ->capture_default_str();
    serve
        ->add_option("--stun-listen", server.stun_listen,
                     "STUN responder for agents' NAT discovery (host:port; it also uses port+1; "
                     "agents reach it at the coordinator's address), or off")
        ->capture_default_str();
    serve->add_option("--ipv4-prefix", server.ipv4_prefix,
                      "Overlay IPv4 prefix, fixed at first start (default 100.64.0.0/10)");
    serve->add_option("--ipv6-prefix", server.ipv6_prefix,
                      "Overlay IPv6 prefix, fixed at first start (default: a random ULA /48)");
    serve->add_option("--log-level", log_level, "trace, debug, info, warn, error")
        ->capture_default_str();

    auto* token = app.add_subcommand("token", "Manage join tokens")->require_subcommand(1);
    mesh::coord::TokenCreateOptions create;
    auto* token_create = token->add_subcommand("create", "Create a join token");
    token_create->add_option("--ttl", create.ttl, "Lifetime: 90s, 15m, 24h, 7d")
        ->capture_default_str();
    token_create->add_flag("--reusable", create.reusable, "Allow more than one join");
    token_create->add_option("--max-uses", create.max_uses,
                             "With --reusable: at most this many joins (0 = unlimited)");
    token_create->add_option("--coordinator", create.coordinator_address,
                             "Address agents reach the coordinator at (for the printed command)");
    token_create->add_flag("--quiet,-q", create.quiet, "Print only the token");
    auto* token_list = token->add_subcommand("list", "List join tokens (never their secrets)");

    auto* nodes = app.add_subcommand("nodes", "Manage nodes")->require_subcommand(1);
    bool json = false;
    auto* nodes_list = nodes->add_subcommand("list", "List nodes");
    nodes_list->add_flag("--json", json, "Machine-readable output");
    std::string node;
    auto* nodes_remove = nodes->add_subcommand("remove", "Remove a node from the mesh");
    nodes_remove->add_option("node", node, "Node id or hostname")->required();

    CLI11_PARSE(app, argc, argv);
    if (admin_socket.empty()) admin_socket = state_dir + "/admin.sock";
    try {
        if (serve->parsed()) {
            spdlog::set_level(spdlog::level::from_str(log_level));
            server.state_dir = state_dir;
            server.admin_socket = admin_socket;
            return mesh::coord::run_server(server);
        }
        if (token_create->parsed()) return mesh::coord::token_create(admin_socket, create);
        if (token_list->parsed()) return mesh::coord::token_list(admin_socket);
        if (nodes_list->parsed()) return mesh::coord::nodes_list(admin_socket, json);
        if (nodes_remove->parsed()) return mesh::coord::nodes_remove(admin_socket, node);
    } catch (const std::exception& e) {
        fmt::print(stderr, "mesh-coordinator: {}\n", e.what());
        return 1;
    }
    return 0;
}
