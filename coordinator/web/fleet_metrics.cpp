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

// Walks the reports, not every pair: a scrape of a 10,000-node fleet would otherwise visit 50
// million pairs. A pair no side reported on is still probing.
std::map<std::string, int> pairs_by_kind(const v1::ListNodesResponse& nodes) {
    // from -> (to -> the path `from` reports), live nodes only
    std::unordered_map<std::string, std::unordered_map<std::string, v1::PathKind>> reported;
    for (const auto& n : nodes.nodes()) {
        if (!n.expired()) reported[n.node_id()];
    }
    for (const auto& n : nodes.nodes()) {
        if (n.expired()) continue;
        for (const auto& p : n.paths()) {
            if (p.node_id() != n.node_id() && reported.contains(p.node_id())) {
                reported[n.node_id()][p.node_id()] = p.path();
            }
        }
    }
    std::map<std::string, int> out{
        {"lan", 0}, {"nat-direct", 0}, {"relay", 0}, {"none", 0}, {"probing", 0}};
    std::size_t counted = 0;
    for (const auto& [from, paths] : reported) {
        for (const auto& [to, kind] : paths) {
            const auto& back_paths = reported.at(to);
            auto back = back_paths.find(from);
            if (back != back_paths.end() && to < from) continue;  // counted from `to`'s side
            const auto other = back == back_paths.end() ? v1::PATH_UNKNOWN : back->second;
            ++out[v1::path_json_name(rank(kind) >= rank(other) ? kind : other)];
            ++counted;
        }
    }
    const std::size_t live = reported.size();
    out["probing"] += static_cast<int>(live * (live - (live > 0 ? 1 : 0)) / 2 - counted);
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
