// Fleet gauges from the node list, and the metrics listener's Basic auth parsing.
#include <catch2/catch.hpp>

#include "coordinator/web/fleet_metrics.hpp"
#include "coordinator/web/http_auth.hpp"

using namespace mesh::coord;
using mesh::v1::ListNodesResponse;

namespace {

mesh::v1::NodeInfo* add(ListNodesResponse& r, const std::string& id, bool connected,
                        bool expired = false) {
    auto* n = r.add_nodes();
    n->set_node_id(id);
    n->set_hostname("h-" + id);
    n->set_connected(connected);
    n->set_expired(expired);
    return n;
}

void path(mesh::v1::NodeInfo* n, const std::string& peer, mesh::v1::PathKind kind) {
    auto* p = n->add_paths();
    p->set_node_id(peer);
    p->set_path(kind);
}

}  // namespace

TEST_CASE("pairs take the better side's path and count each unordered pair once") {
    ListNodesResponse r;
    auto* a = add(r, "a", true);
    auto* b = add(r, "b", true);
    add(r, "c", false);
    add(r, "d", false, true);  // expired: in no pair
    path(a, "b", mesh::v1::PATH_NONE);
    path(b, "a", mesh::v1::PATH_NAT_DIRECT);
    path(a, "c", mesh::v1::PATH_LAN);
    path(a, "d", mesh::v1::PATH_LAN);  // about an expired node: no pair
    auto pairs = pairs_by_kind(r);
    CHECK(pairs["nat-direct"] == 1);  // a-b: the better of none and nat-direct
    CHECK(pairs["lan"] == 1);         // a-c: one side reported
    CHECK(pairs["probing"] == 1);     // b-c: neither
    CHECK(pairs["none"] == 0);
    CHECK(pairs["relay"] == 0);
}

TEST_CASE("a pair only the later node reports on is counted once and every pair is counted") {
    ListNodesResponse r;
    add(r, "x", true);
    auto* y = add(r, "y", true);
    add(r, "z", true);
    path(y, "x", mesh::v1::PATH_RELAY);
    path(y, "y", mesh::v1::PATH_LAN);  // about itself: no pair
    auto pairs = pairs_by_kind(r);
    CHECK(pairs["relay"] == 1);
    CHECK(pairs["lan"] == 0);
    CHECK(pairs["probing"] == 2);  // x-z, y-z
    int total = 0;
    for (const auto& [kind, count] : pairs) total += count;
    CHECK(total == 3);
    CHECK(pairs_by_kind(ListNodesResponse{})["probing"] == 0);
}

TEST_CASE("nodes are counted by state and connected streams") {
    ListNodesResponse r;
    add(r, "a", true);
    add(r, "b", false);
    add(r, "c", false, true);
    auto text = mesh::metrics::render(fleet_families(r));
    CHECK(text.find("mesh_coordinator_nodes{state=\"online\"} 1\n") != std::string::npos);
    CHECK(text.find("mesh_coordinator_nodes{state=\"offline\"} 1\n") != std::string::npos);
    CHECK(text.find("mesh_coordinator_nodes{state=\"expired\"} 1\n") != std::string::npos);
    CHECK(text.find("mesh_coordinator_connected_nodes 1\n") != std::string::npos);
    CHECK(text.find("mesh_coordinator_pairs{path=\"probing\"} 1\n") != std::string::npos);
}

TEST_CASE("Basic auth yields the password after the first colon") {
    // "op:mesh-op1_x:y" in base64
    CHECK(basic_password("Basic b3A6bWVzaC1vcDFfeDp5") == "mesh-op1_x:y");
    CHECK(basic_password("basic   b3A6bWVzaC1vcDFfeDp5 ") == "mesh-op1_x:y");
    CHECK_FALSE(basic_password(""));
    CHECK_FALSE(basic_password("Bearer abc"));
    CHECK_FALSE(basic_password("Basic !!!"));
    CHECK_FALSE(basic_password("Basic bm9jb2xvbg=="));  // "nocolon"
}

TEST_CASE("loopback listen hosts") {
    CHECK(loopback_host("127.0.0.1"));
    CHECK(loopback_host("127.3.4.5"));
    CHECK(loopback_host("[::1]"));
    CHECK(loopback_host("localhost"));
    CHECK_FALSE(loopback_host("0.0.0.0"));
    CHECK_FALSE(loopback_host("10.0.0.1"));
    CHECK_FALSE(loopback_host("[::]"));
    CHECK_FALSE(loopback_host("example.org"));
}
