// The hub's in-memory path reports: stored for a node's current stream only, dropped when that
// stream detaches or the node is forgotten.
#include <catch2/catch.hpp>

#include "coordinator/hub.hpp"

using namespace mesh::coord;

namespace {

NodePaths report(NodePaths::Nat nat) {
    NodePaths p;
    p.nat = nat;
    p.reflexive = Endpoint::parse("198.51.100.7:40001");
    p.peers.push_back(
        {"n-b", PeerPath::Kind::nat_direct, Endpoint::parse("203.0.113.1:51820"), 900});
    return p;
}

}  // namespace

TEST_CASE("hub: paths are kept while the node's stream is open and dropped on detach") {
    Hub hub;
    auto session = hub.attach("n-a");
    std::optional<NodePaths> previous;
    CHECK(hub.set_paths(*session, report(NodePaths::Nat::none), previous));
    CHECK_FALSE(previous);
    CHECK(hub.paths("n-a") == report(NodePaths::Nat::none));
    CHECK(hub.set_paths(*session, report(NodePaths::Nat::endpoint_dependent), previous));
    CHECK(previous == report(NodePaths::Nat::none));
    CHECK_FALSE(hub.paths("n-b"));
    hub.detach(session);
    CHECK_FALSE(hub.paths("n-a"));
}

TEST_CASE("hub: a replaced stream's report is dropped and its detach keeps the new one's") {
    Hub hub;
    auto old_session = hub.attach("n-a");
    auto new_session = hub.attach("n-a");
    std::optional<NodePaths> previous;
    CHECK(hub.set_paths(*new_session, report(NodePaths::Nat::none), previous));
    CHECK_FALSE(hub.set_paths(*old_session, report(NodePaths::Nat::unknown), previous));
    hub.detach(old_session);
    CHECK(hub.paths("n-a") == report(NodePaths::Nat::none));
}

TEST_CASE("hub: forget drops a removed node's paths, and epochs do not move for reports") {
    Hub hub;
    auto session = hub.attach("n-a");
    std::optional<NodePaths> previous;
    auto epoch = hub.epoch();
    hub.set_paths(*session, report(NodePaths::Nat::none), previous);
    CHECK(hub.epoch() == epoch);  // no map stream needs to wake up for a path report
    hub.forget("n-a");
    CHECK_FALSE(hub.paths("n-a"));
}
