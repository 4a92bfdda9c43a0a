#include "coordinator/admin_json.hpp"

#include <nlohmann/json.hpp>

#include "json_names.hpp"

namespace mesh::coord {

namespace {

template <class Repeated>
nlohmann::ordered_json strings(const Repeated& values) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& v : values) out.push_back(v);
    return out;
}

nlohmann::ordered_json node_json(const v1::NodeInfo& n) {
    auto paths = nlohmann::ordered_json::array();
    for (const auto& p : n.paths()) {
        paths.push_back({{"node_id", p.node_id()},
                         {"path", v1::path_json_name(p.path())},
                         {"endpoint", p.endpoint()},
                         {"rtt_us", p.rtt_us()}});
    }
    return {{"node_id", n.node_id()},
            {"hostname", n.hostname()},
            {"addresses", strings(n.addresses())},
            {"public_key", n.wireguard_public_key()},
            {"endpoints", strings(n.endpoints())},
            {"connected", n.connected()},
            {"created_at", n.created_at()},
            {"applied_version", n.applied_version()},
            {"nat", v1::nat_json_name(n.nat())},
            {"reflexive", n.reflexive()},
            {"paths", paths},
            {"tags", strings(n.tags())},
            {"ephemeral", n.ephemeral()},
            {"key_expires_at", n.key_expires_at()},
            {"expired", n.expired()},
            {"last_seen", n.last_seen()},
            {"container_subnets", strings(n.container_subnets())},
            {"replica", n.replica()}};
}

}  // namespace

std::string render_nodes_json(const v1::ListNodesResponse& response) {
    auto nodes = nlohmann::ordered_json::array();
    for (const auto& n : response.nodes()) nodes.push_back(node_json(n));
    nlohmann::ordered_json out = {{"version", response.version()}, {"nodes", nodes}};
    return out.dump(2) + "\n";
}

std::string render_tokens_json(const v1::ListTokensResponse& response) {
    auto tokens = nlohmann::ordered_json::array();
    for (const auto& t : response.tokens()) {
        tokens.push_back({{"token_id", t.token_id()},
                          {"created_at", t.created_at()},
                          {"expires_at", t.expires_at()},
                          {"reusable", t.reusable()},
                          {"max_uses", t.max_uses()},
                          {"uses", t.uses()},
                          {"tags", strings(t.tags())},
                          {"ephemeral", t.ephemeral()},
                          {"revoked", t.revoked()}});
    }
    nlohmann::ordered_json out = {{"tokens", tokens}};
    return out.dump(2) + "\n";
}

}  // namespace mesh::coord
