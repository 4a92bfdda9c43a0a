#include "coordinator/nodes_table.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <map>

namespace mesh::coord {

std::string nat_label(v1::NatType nat) {
    switch (nat) {
        case v1::NAT_NONE:
            return "none";
        case v1::NAT_ENDPOINT_INDEPENDENT:
            return "endpoint-independent";
        case v1::NAT_ENDPOINT_DEPENDENT:
            return "endpoint-dependent (needs relay)";
        default:
            return "unknown";
    }
}

std::string direct_label(const v1::NodeInfo& node) {
    if (node.paths_size() == 0) return "-";
    auto direct = std::count_if(node.paths().begin(), node.paths().end(), [](const auto& p) {
        return p.path() == v1::PATH_LAN || p.path() == v1::PATH_NAT_DIRECT;
    });
    return fmt::format("{}/{}", direct, node.paths_size());
}

namespace {

std::string subnets_label(const v1::NodeInfo& node) {
    std::string out;
    for (const auto& p : node.container_subnets()) out += (out.empty() ? "" : ",") + p;
    return out.empty() ? "-" : out;
}

// How many of the node's pairs go through a TURN relay, as its agent reports them.
std::string relayed_label(const v1::NodeInfo& node) {
    int n = 0;
    for (const auto& p : node.paths()) n += p.path() == v1::PATH_RELAY;
    return std::to_string(n);
}

std::string endpoints_label(const v1::NodeInfo& node) {
    std::string out;
    for (const auto& e : node.endpoints()) out += (out.empty() ? "" : ",") + e;
    return out.empty() ? "-" : out;
}

// "no direct path: web-1 -> db-2, db-3", or "" when the node reaches every reported peer.
std::string no_direct_line(const v1::NodeInfo& node,
                           const std::map<std::string, std::string>& hostnames) {
    std::string peers;
    for (const auto& p : node.paths()) {
        if (p.path() != v1::PATH_NONE) continue;
        auto it = hostnames.find(p.node_id());
        peers += (peers.empty() ? "" : ", ") + (it != hostnames.end() ? it->second : p.node_id());
    }
    if (peers.empty()) return "";
    return fmt::format("no direct path: {} -> {}\n", node.hostname(), peers);
}

}  // namespace

std::string render_nodes_table(const v1::ListNodesResponse& response) {
    // CONTAINERS and RELAYED come last, after the columns scripts already read by position.
    std::size_t nat_width = 3, endpoints_width = 9;
    std::map<std::string, std::string> hostnames;
    for (const auto& n : response.nodes()) {
        nat_width = std::max(nat_width, nat_label(n.nat()).size());
        endpoints_width = std::max(endpoints_width, endpoints_label(n).size());
        hostnames[n.node_id()] = n.hostname();
    }
    std::size_t containers_width = 10;
    for (const auto& n : response.nodes()) {
        containers_width = std::max(containers_width, subnets_label(n).size());
    }
    std::string out =
        fmt::format("{:<20} {:<16} {:<16} {:<10} {:<{}} {:<7} {:<{}} {:<{}} {}\n", "NODE",
                    "HOSTNAME", "ADDRESS", "CONNECTED", "NAT", nat_width, "DIRECT", "ENDPOINTS",
                    endpoints_width, "CONTAINERS", containers_width, "RELAYED");
    for (const auto& n : response.nodes()) {
        out += fmt::format("{:<20} {:<16} {:<16} {:<10} {:<{}} {:<7} {:<{}} {:<{}} {}\n",
                           n.node_id(), n.hostname(), n.addresses_size() ? n.addresses(0) : "-",
                           n.connected() ? "yes" : "no", nat_label(n.nat()), nat_width,
                           direct_label(n), endpoints_label(n), endpoints_width, subnets_label(n),
                           containers_width, relayed_label(n));
    }
    for (const auto& n : response.nodes()) out += no_direct_line(n, hostnames);
    return out;
}

}  // namespace mesh::coord
