#include <catch2/catch.hpp>

#include "tests/unit/support/agent_support.hpp"

#include "agent/desired_config.hpp"
#include "agent/netmap.hpp"

using namespace mesh::agent;
constexpr auto peer = mesh::test::peer_info;

namespace {

MapUpdate full(std::uint64_t version, std::vector<PeerInfo> peers) {
    MapUpdate u;
    u.full = true;
    u.version = version;
    u.self = peer("self", 9, 9);
    u.upserted = std::move(peers);
    return u;
}

}  // namespace

TEST_CASE("a full map replaces everything, deltas must start at our version") {
    NetMap map;
    REQUIRE(apply_update(map, full(5, {peer("a", 1, 1), peer("b", 2, 2)}), "self") ==
            ApplyResult::applied);
    CHECK(map.version == 5);
    CHECK(map.peers.size() == 2);

    MapUpdate delta;
    delta.from_version = 4;
    delta.version = 6;
    CHECK(apply_update(map, delta, "self") == ApplyResult::gap);
    CHECK(map.version == 5);

    delta.from_version = 5;
    delta.upserted = {peer("c", 3, 3)};
    delta.removed = {"a"};
    CHECK(apply_update(map, delta, "self") == ApplyResult::applied);
    CHECK(map.version == 6);
    CHECK(map.peers.contains("c"));
    CHECK_FALSE(map.peers.contains("a"));

    MapUpdate bye;
    bye.from_version = 6;
    bye.version = 7;
    bye.removed = {"self"};
    CHECK(apply_update(map, bye, "self") == ApplyResult::self_removed);
}

TEST_CASE("readiness: kept for unchanged keys, dropped when a key changes") {
    NetMap map;
    apply_update(map, full(1, {peer("a", 1, 1), peer("b", 2, 2)}), "self");
    mark_ready(map, {"a"}, {"b", "unknown"});
    CHECK(map.ready == std::set<std::string>{"a", "b"});
    CHECK(map.initiate == std::set<std::string>{"a"});

    apply_update(map, full(2, {peer("a", 1, 1), peer("b", 2, 2)}), "self");
    CHECK(map.ready.size() == 2);

    MapUpdate rotate;
    rotate.from_version = 2;
    rotate.version = 3;
    rotate.upserted = {peer("a", 7, 1)};
    apply_update(map, rotate, "self");
    CHECK(map.ready == std::set<std::string>{"b"});
    CHECK(map.initiate.empty());
}

TEST_CASE("desired config: older peers wait for readiness, the younger side initiates") {
    auto a = peer("a", 1, 1);
    a.key_version = 3;  // joined before us
    auto b = peer("b", 2, 2);
    b.key_version = 7;  // joined after us
    auto update = full(1, {a, b});
    update.self->key_version = 5;
    NetMap map;
    apply_update(map, update, "self");
    NetworkSettings network;
    DeviceIdentity identity;
    identity.private_key.bytes.fill(9);

    auto config = desired_config(map, network, identity, {});
    REQUIRE(config.peers.size() == 1);  // only b: a may not know us yet
    CHECK(config.peers[0].public_key == b.public_key);
    CHECK(config.peers[0].persistent_keepalive == 0);

    mark_ready(map, {"a"}, {"b"});
    config = desired_config(map, network, identity, {});
    REQUIRE(config.peers.size() == 2);
    CHECK(config.peers[0].persistent_keepalive == 25);  // a: we initiate
    CHECK(config.peers[0].endpoint->to_string() == "10.0.0.1:51820");
    CHECK(config.peers[1].persistent_keepalive == 0);  // b: wait for its handshake

    config = desired_config(map, network, identity, {b.public_key});
    CHECK(config.peers[1].persistent_keepalive == 25);
    CHECK(config.listen_port == 51820);
}

TEST_CASE("pair age: key version first, then node id") {
    PeerInfo x, y;
    x.node_id = "n-b";
    y.node_id = "n-a";
    x.key_version = 1;
    y.key_version = 2;
    CHECK(is_older(x, y));
    CHECK_FALSE(is_older(y, x));
    y.key_version = 1;
    CHECK(is_older(y, x));  // tie: smaller node id is older
    CHECK_FALSE(is_older(x, y));
}

TEST_CASE("allowed IPs from control are trusted only inside the overlay") {
    NetworkSettings network;
    network.ipv6_prefix = IpPrefix::parse("fd00::/48");
    auto p = peer("a", 1, 1);
    p.allowed_ips.push_back(IpPrefix::parse("0.0.0.0/0"));      // not a host route
    p.allowed_ips.push_back(IpPrefix::parse("8.8.8.8/32"));     // outside the overlay
    p.allowed_ips.push_back(IpPrefix::parse("100.64.0.9/32"));  // our own address
    std::optional<PeerInfo> self = peer("self", 9, 9);
    auto trusted = trusted_allowed_ips(p, network, self);
    CHECK(trusted ==
          std::vector<IpPrefix>{IpPrefix::parse("100.64.0.1/32"), IpPrefix::parse("fd00::1/128")});
}

TEST_CASE("endpoint choice prefers IPv4") {
    std::vector<Endpoint> c{Endpoint::parse("[fd00::1]:1"), Endpoint::parse("10.0.0.1:2")};
    CHECK(choose_endpoint(c)->to_string() == "10.0.0.1:2");
    CHECK(choose_endpoint({Endpoint::parse("[fd00::1]:1")})->to_string() == "[fd00::1]:1");
    CHECK_FALSE(choose_endpoint({}));
}

TEST_CASE(
    "desired config: with path probing, the endpoint is the probed one and initiation waits") {
    auto a = peer("a", 1, 1);
    a.key_version = 3;
    a.endpoints = {Endpoint::parse("10.0.0.1:51820"), Endpoint::parse("203.0.113.1:51820")};
    auto update = full(1, {a});
    update.self->key_version = 5;  // we are the younger side: we initiate
    NetMap map;
    apply_update(map, update, "self");
    mark_ready(map, {"a"}, {});
    NetworkSettings network;
    DeviceIdentity identity;

    std::map<std::string, PathSelection> paths;
    paths["a"].endpoint = Endpoint::parse("203.0.113.1:51820");  // probing: not answered yet
    auto config = desired_config(map, network, identity, {}, &paths);
    REQUIRE(config.peers.size() == 1);
    CHECK(config.peers[0].endpoint == Endpoint::parse("203.0.113.1:51820"));
    CHECK(config.peers[0].persistent_keepalive == 0);  // an initiation now would be lost

    paths["a"].verified = true;  // a probe came back: both NATs let the pair through
    config = desired_config(map, network, identity, {}, &paths);
    CHECK(config.peers[0].persistent_keepalive == 25);

    paths["a"].verified = false;
    paths["a"].given_up = true;  // nothing answers: try WireGuard itself anyway
    config = desired_config(map, network, identity, {}, &paths);
    CHECK(config.peers[0].persistent_keepalive == 25);

    config = desired_config(map, network, identity, {});  // probing off: first IPv4 candidate
    CHECK(config.peers[0].endpoint == Endpoint::parse("10.0.0.1:51820"));
    CHECK(config.peers[0].persistent_keepalive == 25);
}
