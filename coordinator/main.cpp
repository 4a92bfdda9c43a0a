// mesh-coordinator: the server (`serve`) and the operator's commands (`token`, `nodes`,
// `credential`, `fingerprint`).
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdlib>

#include "coordinator/container_subnets.hpp"
#include "coordinator/duration.hpp"
#include "coordinator/migrate.hpp"
#include "coordinator/operator_cli.hpp"
#include "coordinator/server.hpp"
#include "kmod-bridge/daemon/cli_config.hpp"
#include "kmod-bridge/daemon/log_output.hpp"
#include "kmod-bridge/version.hpp"

namespace {

// Where the operator commands go: the local socket, or --remote with pin and credential.
void add_target_options(CLI::App& app, mesh::coord::AdminTarget& target,
                        std::string& credential_file) {
    app.add_option("--remote", target.remote,
                   "Use the coordinator's TLS admin port (HOST:PORT of --admin-listen) instead of "
                   "the local socket");
    app.add_option("--fingerprint", target.fingerprint,
                   "With --remote: the coordinator's certificate fingerprint (sha256:...)");
    app.add_option("--credential-file", credential_file,
                   "With --remote: file holding the operator credential (default: "
                   "$MESH_OPERATOR_CREDENTIAL)");
}

// Everything the command line (and, for serve, the config file) sets.
struct CoordinatorCli {
    std::string state_dir = "/var/lib/mesh-coordinator";
    std::string admin_socket;
    mesh::coord::AdminTarget target;
    std::string credential_file;
    mesh::coord::ServerOptions server;
    std::string log_level = "info";
    std::string log_format = "text";
    std::string node_key_ttl = "90d", ephemeral_inactivity = "30m", container_grace = "24h";
    std::string turn_ttl = "12h";
    mesh::coord::TokenCreateOptions create;
    bool token_json = false;
    std::string token_id;
    bool json = false;
    std::string node;
    std::string migrate_from, migrate_to;
    std::string cert_file;
    CLI::App* serve = nullptr;
    CLI::App* token_create = nullptr;
    CLI::App* token_list = nullptr;
    CLI::App* token_revoke = nullptr;
    CLI::App* nodes_list = nullptr;
    CLI::App* nodes_remove = nullptr;
    CLI::App* nodes_expire = nullptr;
    CLI::App* credential_create = nullptr;
    CLI::App* migrate = nullptr;
    CLI::App* fingerprint = nullptr;
};

// A duration option's check: 90s, 15m, 24h, 7d (and 0 where `zero` allows it).
CLI::Validator duration_check(bool zero) {
    return CLI::Validator(
        [zero](std::string& value) -> std::string {
            if (zero && value == "0") return {};
            try {
                mesh::coord::parse_duration(value);
                return {};
            } catch (const std::exception& e) {
                return e.what();
            }
        },
        "DURATION");
}

// mesh-coordinator's options and commands; serve's are what coordinator.toml sets.
void add_options(CLI::App& app, CoordinatorCli& c) {
    app.require_subcommand(1);
    auto& state_dir = c.state_dir;
    auto& admin_socket = c.admin_socket;
    app.add_option("--state-dir", state_dir,
                   "Directory holding the database, TLS key and admin socket")
        ->capture_default_str();
    app.add_option("--admin-socket", admin_socket,
                   "Operator socket (default: STATE_DIR/admin.sock)");
    auto& target = c.target;
    auto& credential_file = c.credential_file;
    add_target_options(app, target, credential_file);

    auto& server = c.server;
    auto& log_level = c.log_level;
    auto& node_key_ttl = c.node_key_ttl;
    auto& ephemeral_inactivity = c.ephemeral_inactivity;
    auto& container_grace = c.container_grace;
    auto& turn_ttl = c.turn_ttl;
    auto* serve = c.serve = app.add_subcommand("serve", "Run the coordinator");
    serve->add_option("--listen", server.listen, "TLS address for agents (host:port)")
        ->capture_default_str();
    serve
        ->add_option("--stun-listen", server.stun_listen,
                     "STUN responder for agents' NAT discovery (host:port; it also uses port+1; "
                     "agents reach it at the coordinator's address), or off")
        ->capture_default_str();
    serve->add_option(
        "--store", server.store,
        "Where the fleet is kept: SQLite in --state-dir (the default), or "
        "etcd://HOST:PORT[,HOST:PORT...][/PREFIX] to run as one of several replicas sharing it "
        "(each replica has its own --state-dir for its TLS identity and admin socket; etcd "
        "that does not answer yet is waited for)");
    serve->add_option("--replica-id", server.replica_id,
                      "With etcd: this replica's name among the others (default: the host name "
                      "and a random suffix)");
    serve->add_option("--ipv4-prefix", server.ipv4_prefix,
                      "Overlay IPv4 prefix, fixed at first start (default 100.64.0.0/10)");
    serve->add_option("--ipv6-prefix", server.ipv6_prefix,
                      "Overlay IPv6 prefix, fixed at first start (default: a random ULA /48)");
    serve
        ->add_option("--container-pool", server.container_pools,
                     "Where hosts' container subnets (a join asking for \"auto\") come from: "
                     "one prefix per address family (repeatable), or off; default 10.244.0.0/16 "
                     "(none if that overlaps the overlay)")
        ->allow_extra_args(false);  // one prefix per --container-pool
    serve
        ->add_option("--container-prefix-len", server.container_prefix_len,
                     "Size of each host's IPv4 container subnet")
        ->capture_default_str()
        ->check(CLI::Range(8u, mesh::coord::kLongestV4Subnet));
    serve
        ->add_option("--container-prefix-len6", server.container_prefix_len6,
                     "Size of each host's IPv6 container subnet (with an IPv6 pool)")
        ->capture_default_str()
        ->check(CLI::Range(32u, mesh::coord::kLongestV6Subnet));
    serve
        ->add_option("--container-grace", container_grace,
                     "How long a removed host's container subnet stays reserved for it (by "
                     "machine key) before it returns to the pool (0 = at once)")
        ->capture_default_str()
        ->check(duration_check(true));
    serve
        ->add_option("--turn", server.turn_servers,
                     "A TURN server (coturn) peers with no direct path relay through: "
                     "turn:HOST[:PORT] (UDP), turn:HOST[:PORT]?transport=tcp, turns:HOST[:PORT] "
                     "(TLS); repeatable. Needs --turn-secret-file")
        ->allow_extra_args(false);
    serve->add_option("--turn-secret-file", server.turn_secret_file,
                      "File holding the secret the TURN servers share with the coordinator "
                      "(coturn: use-auth-secret, static-auth-secret=...); it never leaves here");
    serve->add_option("--turn-tls-fingerprint", server.turn_tls_fingerprint,
                      "The certificate of the turns: servers, sha256:HEX (as `openssl x509 "
                      "-noout -fingerprint -sha256` prints it): agents accept exactly it, "
                      "self-signed or not. Without it they check the certificate against their "
                      "CAs and the URL's host name");
    serve
        ->add_option("--turn-credential-ttl", turn_ttl,
                     "How long the TURN credentials handed to a node last (agents renew them)")
        ->capture_default_str()
        ->check(duration_check(false));
    serve->add_option("--tls-cert", server.tls_cert,
                      "PEM certificate (chain) to serve; default: self-signed, made on first "
                      "start in STATE_DIR/tls");
    serve->add_option("--tls-key", server.tls_key, "PEM private key for --tls-cert");
    serve->add_option("--admin-listen", server.admin_listen,
                      "Also serve the operator API over TLS here (host:port), for remote use with "
                      "the operator credential; default off");
    serve->add_option("--metrics-listen", server.metrics_listen,
                      "Serve /metrics (Prometheus), the fleet page / and /api/fleet over HTTP "
                      "here (host:port); off a loopback address they need the operator "
                      "credential as the Basic auth password; default off");
    serve
        ->add_option("--sync-waiting-per-source", server.sync_waiting_per_source,
                     "Sync streams from one source address that may wait for their hello at "
                     "once (1024 wait in all); raise it when many hosts reach the coordinator "
                     "from one address (an office behind one NAT)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    serve
        ->add_option("--node-key-ttl", node_key_ttl,
                     "Lifetime of a node's WireGuard key; agents rotate it before it lapses "
                     "(0 = never expires)")
        ->capture_default_str()
        ->check(duration_check(true));
    serve
        ->add_option("--ephemeral-inactivity", ephemeral_inactivity,
                     "Remove an ephemeral node after this long without a Sync stream")
        ->capture_default_str()
        ->check(duration_check(false));
    serve
        ->add_option("--log-format", c.log_format,
                     "text (on the journal: no time, a syslog priority per line) or json (one "
                     "object per line with the same keys)")
        ->capture_default_str()
        ->check(CLI::IsMember({"text", "json"}));
    serve->add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

    auto* token = app.add_subcommand("token", "Manage join tokens")->require_subcommand(1);
    auto& create = c.create;
    auto* token_create = c.token_create = token->add_subcommand("create", "Create a join token");
    token_create->add_option("--ttl", create.ttl, "Lifetime: 90s, 15m, 24h, 7d")
        ->capture_default_str();
    token_create->add_flag("--reusable", create.reusable, "Allow more than one join");
    token_create->add_option("--max-uses", create.max_uses,
                             "With --reusable: at most this many joins (0 = unlimited)");
    token_create->add_option("--tag", create.tags,
                             "Tag for every node joining with it (repeatable); nodes cannot "
                             "choose their own");
    token_create->add_flag("--ephemeral", create.ephemeral,
                           "Its nodes are removed after --ephemeral-inactivity offline");
    token_create->add_option("--coordinator", create.coordinator_address,
                             "Address agents reach the coordinator at (for the printed command)");
    token_create->add_flag("--quiet,-q", create.quiet, "Print only the token");
    auto* token_list = c.token_list =
        token->add_subcommand("list", "List join tokens (never their secrets)");
    auto& token_json = c.token_json;
    token_list->add_flag("--json", token_json, "Machine-readable output");
    auto& token_id = c.token_id;
    auto* token_revoke = c.token_revoke =
        token->add_subcommand("revoke", "Revoke a join token (joined nodes stay)");
    token_revoke->add_option("id", token_id, "Token id (see token list)")->required();

    auto* nodes = app.add_subcommand("nodes", "Manage nodes")->require_subcommand(1);
    auto& json = c.json;
    auto* nodes_list = c.nodes_list = nodes->add_subcommand("list", "List nodes");
    nodes_list->add_flag("--json", json, "Machine-readable output");
    auto& node = c.node;
    auto* nodes_remove = c.nodes_remove =
        nodes->add_subcommand("remove", "Remove a node from the mesh");
    nodes_remove->add_option("node", node, "Node id or hostname")->required();
    auto* nodes_expire = c.nodes_expire = nodes->add_subcommand(
        "expire", "Expire a node's key now: it leaves every peer until it joins again");
    nodes_expire->add_option("node", node, "Node id or hostname")->required();

    auto* credential = app.add_subcommand("credential", "The operator credential for --remote")
                           ->require_subcommand(1);
    c.credential_create = credential->add_subcommand(
        "create", "Make the operator credential (replaces the old one); local socket only");

    auto& migrate_from = c.migrate_from;
    auto& migrate_to = c.migrate_to;
    auto* migrate = c.migrate = app.add_subcommand(
        "migrate",
        "Copy a fleet from a stopped coordinator's SQLite store into etcd, as it is: then start "
        "the replicas with --store etcd://...; no host joins again");
    migrate->add_option("--from", migrate_from, "sqlite:STATE_DIR of the coordinator")->required();
    migrate->add_option("--to", migrate_to, "etcd://HOST:PORT[,HOST:PORT...][/PREFIX], empty")
        ->required();
    auto& cert_file = c.cert_file;
    auto* fingerprint = c.fingerprint = app.add_subcommand(
        "fingerprint", "Print the coordinator certificate's fingerprint (no server needed)");
    fingerprint->add_option("--tls-cert", cert_file,
                            "Certificate (default: STATE_DIR/tls/cert.pem)");
    // Options of the program given after serve (mesh-coordinator serve --config FILE).
    serve->fallthrough();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mesh-coordinator: hands out keys, addresses and endpoints to mesh agents"};
    app.set_version_flag("--version", mesh::version_line("mesh-coordinator"));
    CoordinatorCli c;
    add_options(app, c);
    for (auto* opt : {"--remote", "--fingerprint", "--credential-file"}) {
        app.get_option(opt)->configurable(false);  // the operator's, not the server's
    }
    bool print_config = false;
    c.serve
        ->add_flag("--print-config", print_config,
                   "Print serve's effective settings (the config file and the options) as TOML "
                   "and exit")
        ->configurable(false);
    const auto keys = mesh::daemon::config_keys(app, "serve");
    auto config =
        mesh::daemon::ConfigFile::install(app, keys, mesh::daemon::parse_into_fresh(&add_options),
                                          "/etc/mesh/coordinator.toml", {"serve"});
    if (auto code =
            mesh::daemon::parse_command_line(app, *config, "mesh-coordinator", argc, argv)) {
        return *code;
    }
    if (print_config) {
        fmt::print("{}",
                   mesh::daemon::effective_config(app, keys,
                                                  "mesh-coordinator serve settings (" +
                                                      config->path() + " and the command line)"));
        return 0;
    }
    auto& [state_dir, admin_socket, target, credential_file, server, log_level, log_format,
           node_key_ttl, ephemeral_inactivity, container_grace, turn_ttl, create, token_json,
           token_id, json, node, migrate_from, migrate_to, cert_file, serve, token_create,
           token_list, token_revoke, nodes_list, nodes_remove, nodes_expire, credential_create,
           migrate, fingerprint] = c;
    if (admin_socket.empty()) admin_socket = state_dir + "/admin.sock";
    target.admin_socket = admin_socket;
    try {
        if (!target.remote.empty()) {
            if (!credential_file.empty()) {
                target.credential = mesh::coord::read_credential_file(credential_file);
            } else if (const char* env = std::getenv("MESH_OPERATOR_CREDENTIAL")) {
                target.credential = env;
            }
        }
        if (serve->parsed()) {
            mesh::daemon::setup_logging(*mesh::daemon::parse_log_format(log_format), log_level);
            server.state_dir = state_dir;
            server.admin_socket = admin_socket;
            server.node_key_ttl =
                node_key_ttl == "0" ? 0 : mesh::coord::parse_duration(node_key_ttl);
            server.ephemeral_inactivity = mesh::coord::parse_duration(ephemeral_inactivity);
            server.turn_credential_ttl = mesh::coord::parse_duration(turn_ttl);
            server.container_grace =
                container_grace == "0" ? 0 : mesh::coord::parse_duration(container_grace);
            return mesh::coord::run_server(server);
        }
        if (token_create->parsed()) return mesh::coord::token_create(target, create);
        if (token_list->parsed()) return mesh::coord::token_list(target, token_json);
        if (token_revoke->parsed()) return mesh::coord::token_revoke(target, token_id);
        if (nodes_list->parsed()) return mesh::coord::nodes_list(target, json);
        if (nodes_remove->parsed()) return mesh::coord::nodes_remove(target, node);
        if (nodes_expire->parsed()) return mesh::coord::nodes_expire(target, node);
        if (credential_create->parsed()) return mesh::coord::credential_create(target);
        if (migrate->parsed()) return mesh::coord::run_migrate(migrate_from, migrate_to);
        if (fingerprint->parsed()) {
            return mesh::coord::print_fingerprint(cert_file.empty() ? state_dir + "/tls/cert.pem"
                                                                    : cert_file);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "mesh-coordinator: {}\n", e.what());
        return 1;
    }
    return 0;
}
