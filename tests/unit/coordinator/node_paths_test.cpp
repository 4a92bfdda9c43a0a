// Which path-report changes deserve a log line.
#include <catch2/catch.hpp>

#include "coordinator/node_paths.hpp"

using namespace mesh::coord;

namespace {

NodePaths with(NodePaths::Nat nat, std::vector<std::pair<std::string, PeerPath::Kind>> peers) {
    NodePaths p;
    p.nat = nat;
    for (auto& [id, kind] : peers) p.peers.push_back({id, kind, std::nullopt, 0});
    return p;
}

using Kind = PeerPath::Kind;
using Nat = NodePaths::Nat;

}  // namespace

TEST_CASE("path changes: the NAT type, with no report counting as unknown") {
    CHECK_FALSE(path_changes(std::nullopt, with(Nat::unknown, {})).nat_changed);
    CHECK(path_changes(std::nullopt, with(Nat::endpoint_dependent, {})).nat_changed);
    CHECK_FALSE(
        path_changes(with(Nat::none, {}), with(Nat::none, {{"n-b", Kind::lan}})).nat_changed);
    CHECK(path_changes(with(Nat::none, {}), with(Nat::endpoint_independent, {})).nat_changed);
}

TEST_CASE("path changes: peers whose path just became none") {
    auto before =
        with(Nat::none, {{"n-b", Kind::none}, {"n-c", Kind::lan}, {"n-d", Kind::unknown}});
    auto after = with(Nat::none, {{"n-b", Kind::none},
                                  {"n-c", Kind::none},
                                  {"n-d", Kind::none},
                                  {"n-e", Kind::none},
                                  {"n-f", Kind::nat_direct}});
    CHECK(path_changes(before, after).lost_direct_path ==
          std::vector<std::string>{"n-c", "n-d", "n-e"});
    CHECK(path_changes(std::nullopt, before).lost_direct_path == std::vector<std::string>{"n-b"});
    CHECK(path_changes(after, after).lost_direct_path.empty());
}

TEST_CASE("path changes: NAT names as the operator reads them") {
    CHECK(std::string(nat_name(Nat::unknown)) == "unknown");
    CHECK(std::string(nat_name(Nat::none)) == "none");
    CHECK(std::string(nat_name(Nat::endpoint_independent)) == "endpoint-independent");
    CHECK(std::string(nat_name(Nat::endpoint_dependent)) == "endpoint-dependent");
}
