#include <catch2/catch.hpp>

#include "tests/unit/support/agent_support.hpp"

#include <string>

#include "agent/state.hpp"
#include "kmod-bridge/error.hpp"

using namespace mesh::agent;
constexpr auto peer = mesh::test::peer_info;

namespace {}  // namespace

TEST_CASE("a state parses back from what serialize_state wrote") {
    AgentState s;
    s.coordinator = "192.0.2.10:7443";
    s.node_id = "self";
    s.hostname = "web";
    s.addresses = {IpPrefix::parse("100.64.0.1/10", true)};
    MapUpdate full;
    full.full = true;
    full.version = 7;
    full.self = peer("self", 1, 1);
    full.upserted = {peer("a", 2, 2), peer("b", 3, 3)};
    full.upserted[0].container_subnets = {IpPrefix::parse("10.244.3.0/24"),
                                          IpPrefix::parse("fd10::/64")};
    apply_update(s.netmap, full, s.node_id);
    mark_ready(s.netmap, {"a"}, {"b"});
    s.container_subnets = {IpPrefix::parse("10.244.1.0/24")};
    s.network.container_pools = {IpPrefix::parse("10.244.0.0/16")};

    auto bytes = serialize_state(s);
    auto back = parse_state(bytes, "state.pb");
    CHECK(back.node_id == "self");
    CHECK(back.addresses == s.addresses);
    CHECK(back.netmap.version == 7);
    CHECK(back.netmap.peers == s.netmap.peers);
    CHECK(back.netmap.peers["a"].container_subnets.size() == 2);
    CHECK(back.container_subnets == s.container_subnets);
    CHECK(back.network.container_pools == s.network.container_pools);
    CHECK(back.netmap.ready == s.netmap.ready);
    CHECK(back.netmap.initiate == s.netmap.initiate);
    CHECK(serialize_state(back) == bytes);
}

TEST_CASE("a corrupt state names its origin and the next step") {
    CHECK_THROWS_WITH(parse_state("\xff\xff\xff", "/var/lib/mesh-agent/state.pb"),
                      Catch::Contains("/var/lib/mesh-agent/state.pb is corrupt") &&
                          Catch::Contains("join again"));
    AgentState s;
    s.addresses = {IpPrefix::parse("100.64.0.1/10", true)};
    auto bytes = serialize_state(s);
    bytes += std::string(
        "\x22\x03"
        "bad",
        5);  // another address, "bad"
    CHECK_THROWS_WITH(parse_state(bytes, "state.pb"), Catch::Contains("state.pb is corrupt ("));
}
