// The map in memory: addresses in O(log N) with holes reused, hostnames with suffixes, changes
// since a version, keys by the version they were set at, and the hello gate's and rate limits'
// pure logic.
#include <catch2/catch.hpp>

#include "coordinator/endpoint_policy.hpp"
#include "coordinator/fanout/mesh_map.hpp"
#include "coordinator/fanout/rate_limits.hpp"
#include "coordinator/fanout/stream_gate.hpp"
#include "tests/unit/support/test_support.hpp"

using namespace mesh::coord;

namespace {

NodeRecord node(const std::string& id, const std::string& host, const std::string& ipv4,
                std::uint64_t version, std::uint8_t key) {
    NodeRecord n;
    n.id = id;
    n.hostname = host;
    n.ipv4 = IpAddress::parse(ipv4);
    n.version = version;
    n.key_version = version;
    n.wireguard_key = mesh::test::key_of(key);
    n.machine_key = mesh::test::key_of(static_cast<std::uint8_t>(key + 100));
    return n;
}

MeshMap empty_map(const std::string& prefix = "100.64.0.0/10") {
    return MeshMap(IpPrefix::parse(prefix), [](const NodeRecord& n) { return n.id; });
}

}  // namespace

TEST_CASE("mesh map: the lowest free address, holes first, in O(log N)") {
    auto map = empty_map();
    CHECK(map.free_ipv4()->to_string() == "100.64.0.1");
    map.upsert(node("n-a", "a", "100.64.0.1", 1, 1));
    map.upsert(node("n-b", "b", "100.64.0.2", 2, 2));
    map.upsert(node("n-c", "c", "100.64.0.3", 3, 3));
    CHECK(map.free_ipv4()->to_string() == "100.64.0.4");
    map.remove("n-b", 4);
    CHECK(map.free_ipv4()->to_string() == "100.64.0.2");  // the hole
    map.remove("n-c", 5);  // the top one: the water mark comes down past the hole
    CHECK(map.free_ipv4()->to_string() == "100.64.0.2");
    map.upsert(node("n-d", "d", "100.64.0.2", 6, 4));
    CHECK(map.free_ipv4()->to_string() == "100.64.0.3");

    auto loaded = empty_map();  // loaded out of order, with gaps
    loaded.load({node("n-x", "x", "100.64.0.9", 9, 9), node("n-y", "y", "100.64.0.2", 2, 8)}, {},
                9);
    CHECK(loaded.free_ipv4()->to_string() == "100.64.0.1");

    auto tiny = empty_map("10.0.0.0/30");  // .1 and .2 only
    tiny.upsert(node("n-1", "one", "10.0.0.1", 1, 1));
    tiny.upsert(node("n-2", "two", "10.0.0.2", 2, 2));
    CHECK_FALSE(tiny.free_ipv4());  // .3 is the broadcast address
}

TEST_CASE("mesh map: hostnames get the next free suffix") {
    auto map = empty_map();
    map.upsert(node("n-a", "web", "100.64.0.1", 1, 1));
    CHECK(map.unique_hostname("web") == "web-2");
    map.upsert(node("n-b", "web-2", "100.64.0.2", 2, 2));
    CHECK(map.unique_hostname("web") == "web-3");
    CHECK(map.unique_hostname("web", "n-a") == "web");  // its own name is not taken
    CHECK(map.unique_hostname("db") == "db");
    CHECK(map.unique_hostname(std::string(63, 'x')).size() == 63);
}

TEST_CASE("mesh map: changes since a version, and keys by the version they were set at") {
    auto map = empty_map();
    map.upsert(node("n-a", "a", "100.64.0.1", 1, 1));
    map.upsert(node("n-b", "b", "100.64.0.2", 2, 2));
    map.upsert(node("n-c", "c", "100.64.0.3", 3, 3));
    auto b = *map.find("n-b");
    b.record.version = 4;  // an endpoint change: the key stays at version 2
    map.upsert(b.record);
    map.remove("n-a", 5);
    auto since = map.since(2);
    CHECK_FALSE(since.complete);
    REQUIRE(since.changed.size() == 2);
    CHECK(since.changed[0]->record.id == "n-c");
    CHECK(since.changed[1]->record.id == "n-b");
    CHECK(since.removed == std::vector<std::string>{"n-a"});
    CHECK(map.changed_count_since(2) == 3);
    CHECK(map.since(0).complete);
    CHECK(map.since(99).complete);  // from the future
    CHECK(map.since(5).changed.empty());
    std::vector<std::string> keys;
    map.for_keys_set_in(1, 3, [&](const MapNode& n) { keys.push_back(n.record.id); });
    CHECK(keys == std::vector<std::string>{"n-b", "n-c"});
    CHECK(map.by_hostname("b")->record.id == "n-b");
    CHECK(map.by_wireguard_key(mesh::test::key_of(3))->record.id == "n-c");
    CHECK_FALSE(map.by_machine_key(mesh::test::key_of(101)));  // n-a's, removed
}

TEST_CASE("security 1: streams without a hello are capped and time out") {
    StreamGate gate({std::chrono::milliseconds(1000), 3, 2});
    auto t0 = StreamGate::Clock::now();
    auto a = gate.admit("192.0.2.1", t0);
    auto b = gate.admit("192.0.2.1", t0);
    CHECK(a);
    CHECK(b);
    CHECK_FALSE(gate.admit("192.0.2.1", t0));  // per source
    auto c = gate.admit("192.0.2.2", t0);
    CHECK(c);
    CHECK_FALSE(gate.admit("192.0.2.3", t0));  // in all
    gate.release(*a);                          // its hello came
    CHECK(gate.admit("192.0.2.1", t0));
    CHECK(gate.expired(t0 + std::chrono::milliseconds(999)).empty());
    auto late = gate.expired(t0 + std::chrono::milliseconds(1000));
    CHECK(late.size() == 3);
    CHECK(late.contains(*b));
    CHECK(gate.waiting() == 0);
    CHECK(peer_address("ipv4:192.0.2.1:4242") == "192.0.2.1");
    CHECK(peer_address("ipv6:[2001:db8::1]:4242") == "[2001:db8::1]");
}

TEST_CASE("security 4: endpoint reports make one map change per node per interval") {
    EndpointCoalescer c(std::chrono::milliseconds(1000));
    auto t0 = EndpointCoalescer::Clock::now();
    auto e = [](const char* text) { return std::vector<Endpoint>{Endpoint::parse(text)}; };
    c.report("a", e("192.0.2.1:1"), t0);
    CHECK(c.take_due(t0).size() == 1);  // the first goes at once
    for (int i = 0; i < 300; ++i) c.report("a", e(i % 2 ? "192.0.2.2:1" : "192.0.2.3:1"), t0);
    CHECK(c.take_due(t0 + std::chrono::milliseconds(500)).empty());
    auto later = c.take_due(t0 + std::chrono::milliseconds(1000));
    REQUIRE(later.size() == 1);
    CHECK(later[0].second.endpoints == e("192.0.2.2:1"));  // the newest
    // A relayed address reported, then a hello's candidates: the relay stays pending with them.
    CandidateReport with_relay{e("192.0.2.4:1"), true, Endpoint::parse("203.0.113.5:49152")};
    auto t1 = t0 + std::chrono::milliseconds(2000);
    c.report("a", with_relay, t1);
    c.report("a", e("192.0.2.5:1"), t1);
    auto merged = c.take_due(t1 + std::chrono::milliseconds(1000));
    REQUIRE(merged.size() == 1);
    CHECK(merged[0].second.endpoints == e("192.0.2.5:1"));
    CHECK(merged[0].second.relay_given);
    CHECK(merged[0].second.relay == Endpoint::parse("203.0.113.5:49152"));

    // A new relayed address goes at once, once per interval beside the regular writes.
    auto t2 = t1 + std::chrono::milliseconds(5000);
    c.report("b", e("192.0.2.9:1"), t2);
    CHECK(c.take_due(t2).size() == 1);
    CandidateReport relayed{e("192.0.2.9:1"), true, Endpoint::parse("203.0.113.5:50000")};
    c.report("b", relayed, t2 + std::chrono::milliseconds(10));
    CHECK(c.take_due(t2 + std::chrono::milliseconds(10)).size() == 1);  // not a second later
    relayed.relay = Endpoint::parse("203.0.113.5:50001");
    c.report("b", relayed, t2 + std::chrono::milliseconds(20));
    CHECK(c.take_due(t2 + std::chrono::milliseconds(20)).empty());  // the bypass is spent
    CHECK(c.take_due(t2 + std::chrono::milliseconds(1010)).size() == 1);
    TokenBucket bucket(10, 5);
    auto t = TokenBucket::Clock::now();
    int taken = 0;
    for (int i = 0; i < 100; ++i) taken += bucket.take(t);
    CHECK(taken == 5);
    CHECK(bucket.take(t + std::chrono::milliseconds(150)));  // refilled at 10 a second
}

TEST_CASE(
    "security 4: loopback, multicast, broadcast, link-local and overlay endpoints are refused") {
    NetworkConfig n;
    n.ipv6_prefix = IpPrefix::parse("fd7a:115c:a1e0::/48");
    for (const char* bad :
         {"127.0.0.1:22", "255.255.255.255:9", "224.0.0.251:5353", "0.0.0.0:1", "169.254.1.1:1",
          "100.64.0.5:51820", "[::1]:22", "[ff02::1]:9", "[fe80::1]:1", "[::]:1",
          "[::ffff:192.0.2.1]:1", "[fd7a:115c:a1e0::5]:1"}) {
        INFO(bad);
        CHECK(endpoint_refusal(Endpoint::parse(bad), n));
    }
    for (const char* good : {"192.0.2.1:51820", "10.0.0.5:51820", "[2001:db8::1]:51820",
                             "203.0.113.7:4000", "[fd00:1::5]:51820"}) {
        INFO(good);
        CHECK_FALSE(endpoint_refusal(Endpoint::parse(good), n));
    }
}

TEST_CASE("endpoint reports the store could not take are written later, unless a newer came") {
    EndpointCoalescer c(std::chrono::milliseconds(1000));
    auto t0 = EndpointCoalescer::Clock::now();
    auto e = [](const char* text) { return std::vector<Endpoint>{Endpoint::parse(text)}; };
    c.report("a", e("192.0.2.1:1"), t0);
    c.report("b", e("192.0.2.2:1"), t0);
    auto due = c.take_due(t0);
    REQUIRE(due.size() == 2);
    // The write failed (etcd without a quorum): both go back; b reported again meanwhile.
    c.report("b", e("192.0.2.3:1"), t0);
    for (auto& [id, report] : due) c.restore(id, report);
    CHECK(c.take_due(t0 + std::chrono::milliseconds(500)).empty());  // one interval later
    auto again = c.take_due(t0 + std::chrono::milliseconds(1000));
    REQUIRE(again.size() == 2);
    CHECK(again[0].second.endpoints == e("192.0.2.1:1"));
    CHECK(again[1].second.endpoints == e("192.0.2.3:1"));  // the newer one, not the restored
}
