#include <catch2/catch.hpp>

#include "tests/unit/support/agent_support.hpp"

#include <string>

#include "agent/state.hpp"
#include "kmod-bridge/error.hpp"
#include "mesh/v1/agent_state.pb.h"

using namespace mesh::agent;
constexpr auto peer = mesh::test::peer_info;

namespace {}  // namespace

TEST_CASE("a state parses back from what serialize_state wrote") {
    AgentState s;
    s.coordinators = {{"192.0.2.10:7443", "sha256:" + std::string(64, 'a')}};
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

namespace {

const std::string kPinA = "sha256:" + std::string(64, 'a');
const std::string kPinB = "sha256:" + std::string(64, 'b');

}  // namespace

TEST_CASE("a state file from before replica lists reads as a list of one") {
    // As an agent with one coordinator wrote it: no list, the single fields.
    auto old_format = [](const std::string& coordinator, const std::string& fingerprint) {
        AgentState s;
        s.node_id = "self";
        s.addresses = {IpPrefix::parse("100.64.0.1/10", true)};
        mesh::v1::AgentState raw;
        REQUIRE(raw.ParseFromString(serialize_state(s)));
        REQUIRE(raw.coordinators_size() == 0);
        raw.set_coordinator(coordinator);
        raw.set_fingerprint(fingerprint);
        return raw.SerializeAsString();
    };
    // The pin is canonicalized on reading, as before.
    auto s =
        parse_state(old_format("192.0.2.10:7443", "SHA256:" + std::string(64, 'A')), "state.pb");
    REQUIRE(s.coordinators.size() == 1);
    CHECK(s.coordinators[0] == CoordinatorEntry{"192.0.2.10:7443", kPinA});
    CHECK(s.node_id == "self");
    CHECK(keys_reusable_for(s, {{"192.0.2.10:7443", kPinA}}));
    // Saved again, it carries the list and the single fields.
    mesh::v1::AgentState again;
    REQUIRE(again.ParseFromString(serialize_state(s)));
    CHECK(again.coordinators_size() == 1);
    CHECK(again.coordinator() == "192.0.2.10:7443");
    CHECK(again.fingerprint() == kPinA);

    // From before pins: one replica, no pin (the agent asks for a join with --fingerprint).
    auto u = parse_state(old_format("192.0.2.10:7443", ""), "state.pb");
    REQUIRE(u.coordinators.size() == 1);
    CHECK(u.coordinators[0].fingerprint.empty());
    CHECK(parse_state(old_format("", ""), "state.pb").coordinators.empty());
}

TEST_CASE("a state with replicas keeps them all, and the first where an older agent reads") {
    AgentState s;
    s.node_id = "self";
    s.coordinators = {
        {"192.0.2.10:7443", kPinA}, {"192.0.2.11:7443", kPinB}, {"coord-3.example:7443", kPinA}};
    auto bytes = serialize_state(s);
    auto back = parse_state(bytes, "state.pb");
    CHECK(back.coordinators == s.coordinators);  // every replica, in the join's order
    CHECK(serialize_state(back) == bytes);

    // A downgraded agent reads only fields 1 and 10: the first replica, pinned.
    mesh::v1::AgentState raw;
    REQUIRE(raw.ParseFromString(bytes));
    CHECK(raw.coordinator() == "192.0.2.10:7443");
    CHECK(raw.fingerprint() == kPinA);
    CHECK(raw.coordinators_size() == 3);

    // When both are there, the list wins over the single fields.
    raw.set_coordinator("198.51.100.1:7443");
    auto list_wins = parse_state(raw.SerializeAsString(), "state.pb");
    CHECK(list_wins.coordinators == s.coordinators);
}

TEST_CASE("a state's replica list is checked like the rest of the file") {
    AgentState s;
    s.addresses = {IpPrefix::parse("100.64.0.1/10", true)};
    mesh::v1::AgentState raw;
    REQUIRE(raw.ParseFromString(serialize_state(s)));
    auto many = raw;
    auto* c = raw.add_coordinators();
    c->set_address("192.0.2.10:7443");
    c->set_fingerprint("sha256:12");
    CHECK_THROWS_WITH(parse_state(raw.SerializeAsString(), "state.pb"),
                      Catch::Contains("state.pb is corrupt (") && Catch::Contains("hex digits"));
    for (std::size_t i = 0; i <= kMaxCoordinators; ++i) {
        auto* r = many.add_coordinators();
        r->set_address("192.0.2." + std::to_string(i + 1) + ":7443");
        r->set_fingerprint(kPinA);
    }
    CHECK_THROWS_WITH(parse_state(many.SerializeAsString(), "state.pb"),
                      Catch::Contains("state.pb is corrupt (more than"));
}
