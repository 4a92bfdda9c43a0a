#include "coordinator/web/fleet_metrics.hpp"

#include <unordered_map>

#include "json_names.hpp"

namespace mesh::coord {

namespace {

int rank(v1::PathKind kind) {
    switch (kind) {
        case v1::PATH_LAN:
            return 4;
        case v1::PATH_NAT_DIRECT:
            return 3;
        case v1::PATH_RELAY:
            return 2;
        case v1::PATH_NONE:
            return 1;
        default:
            return 0;
    }
}

}  // namespace

const char* node_state(const v1::NodeInfo& node) {
    if (node.expired()) return "expired";
    return node.connected() ? "online" : "offline";
}

std::map<std::string, int> pairs_by_kind(const v1::ListNodesResponse& nodes) {
    // (from, to) -> kind reported by `from`
    std::unordered_map<std::string, std::unordered_map<std::string, v1::PathKind>> reported;
    std::vector<const v1::NodeInfo*> live;
    for (const auto& n : nodes.nodes()) {
        if (n.expired()) continue;
        live.push_back(&n);
        for (const auto& p : n.paths()) reported[n.node_id()][p.node_id()] = p.path();
    }
    auto side = [&](const std::string& from, const std::string& to) {
        auto f = reported.find(from);
        if (f == reported.end()) return v1::PATH_UNKNOWN;
        auto t = f->second.find(to);
        return t == f->second.end() ? v1::PATH_UNKNOWN : t->second;
    };
    std::map<std::string, int> out{
        {"lan", 0}, {"nat-direct", 0}, {"relay", 0}, {"none", 0}, {"probing", 0}};
    for (std::size_t i = 0; i < live.size(); ++i) {
        for (std::size_t j = i + 1; j < live.size(); ++j) {
            auto a = side(live[i]->node_id(), live[j]->node_id());
            auto b = side(live[j]->node_id(), live[i]->node_id());
            ++out[v1::path_json_name(rank(a) >= rank(b) ? a : b)];
        }
    }
    return out;
}

std::vector<metrics::Family> fleet_families(const v1::ListNodesResponse& nodes) {
    using metrics::Family;
    Family by_state{
        "mesh_coordinator_nodes", "Nodes in the registry by state", Family::Type::gauge, {}, {}};
    std::map<std::string, int> states{{"online", 0}, {"offline", 0}, {"expired", 0}};
    int connected = 0;
    for (const auto& n : nodes.nodes()) {
        ++states[node_state(n)];
        if (n.connected() && !n.expired()) ++connected;
    }
    for (const auto& [state, count] : states)
        by_state.samples.push_back({{{"state", state}}, 1.0 * count});
    Family streams{"mesh_coordinator_connected_nodes",
                   "Nodes with a Sync stream open (on this replica or another)",
                   Family::Type::gauge,
                   {{{}, 1.0 * connected}},
                   {}};
    Family pairs{"mesh_coordinator_pairs",
                 "Pairs of live nodes by the best path either reports",
                 Family::Type::gauge,
                 {},
                 {}};
    for (const auto& [kind, count] : pairs_by_kind(nodes)) {
        pairs.samples.push_back({{{"path", kind}}, 1.0 * count});
    }
    Family version{"mesh_coordinator_map_version",
                   "The mesh map's version",
                   Family::Type::gauge,
                   {{{}, static_cast<double>(nodes.version())}},
                   {}};
    return {by_state, streams, pairs, version};
}

}  // namespace mesh::coord
