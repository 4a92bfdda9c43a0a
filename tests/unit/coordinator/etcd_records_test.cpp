#include <catch2/catch.hpp>

#include "coordinator/etcd_records.hpp"
#include "coordinator/store_url.hpp"
#include "kmod-bridge/error.hpp"

using namespace mesh::coord;

TEST_CASE("store url: sqlite and etcd forms, with what is wrong named") {
    auto sqlite = parse_store_url("sqlite:/var/lib/mesh");
    CHECK(sqlite.kind == StoreUrl::Kind::sqlite);
    CHECK(sqlite.sqlite_dir == "/var/lib/mesh");
    auto etcd = parse_store_url("etcd://10.0.0.1:2379,etcd-2.internal:2379");
    CHECK(etcd.kind == StoreUrl::Kind::etcd);
    CHECK(etcd.endpoints == std::vector<std::string>{"10.0.0.1:2379", "etcd-2.internal:2379"});
    CHECK(etcd.prefix == "/mesh/");
    CHECK(etcd.to_string() == "etcd://10.0.0.1:2379,etcd-2.internal:2379");
    auto prefixed = parse_store_url("etcd://127.0.0.1:2379/fleets/prod");
    CHECK(prefixed.prefix == "/fleets/prod/");
    CHECK(parse_store_url(prefixed.to_string()).prefix == "/fleets/prod/");
    CHECK_THROWS_WITH(parse_store_url("etcd://"), Catch::Contains("no etcd address"));
    CHECK_THROWS_WITH(parse_store_url("etcd://host"), Catch::Contains("is not HOST:PORT"));
    CHECK_THROWS_WITH(parse_store_url("etcd://host:0"),
                      Catch::Contains("port between 1 and 65535"));
    CHECK_THROWS_WITH(parse_store_url("etcd://a:1,,b:2"), Catch::Contains("is not HOST:PORT"));
    CHECK_THROWS_WITH(parse_store_url("etcd://a:1/x y"), Catch::Contains("key prefix"));
    CHECK_THROWS_WITH(parse_store_url("postgres://a:1"), Catch::Contains("unknown kind of store"));
    CHECK_THROWS_WITH(parse_store_url("sqlite:"), Catch::Contains("needs the state directory"));
}

TEST_CASE("etcd keys: each kind under the prefix, and back") {
    EtcdKeys keys("/mesh/");
    CHECK(keys.node("n-1") == "/mesh/nodes/n-1");
    CHECK(keys.parse("/mesh/nodes/n-1").kind == EtcdKeys::Kind::node);
    CHECK(keys.parse("/mesh/nodes/n-1").name == "n-1");
    CHECK(keys.parse("/mesh/version").kind == EtcdKeys::Kind::version);
    CHECK(keys.parse("/mesh/reaper").kind == EtcdKeys::Kind::reaper);
    const auto hold = keys.hold(IpPrefix::parse("10.244.3.0/24"));
    CHECK(hold == "/mesh/holds/10.244.3.0_24");
    CHECK(keys.parse(hold).kind == EtcdKeys::Kind::hold);
    CHECK(keys.parse(hold).name == "10.244.3.0/24");
    CHECK(keys.parse("/other/nodes/n-1").kind == EtcdKeys::Kind::other);
    CHECK(keys.parse("/mesh/nodes/").kind == EtcdKeys::Kind::other);
    CHECK(prefix_range_end("/mesh/") == "/mesh0");
}

TEST_CASE("etcd records: a node, token, hold, live node and acks survive the round trip") {
    NodeRecord n;
    n.id = "n-0011223344556677";
    n.hostname = "alpha";
    n.wireguard_key.bytes.fill(1);
    n.machine_key.bytes.fill(2);
    n.ipv4 = IpAddress::parse("100.64.0.7");
    n.ipv6 = IpAddress::parse("fd00:aa::7");
    n.endpoints = {Endpoint::parse("192.0.2.1:51820"), Endpoint::parse("[2001:db8::1]:51820")};
    n.relay = Endpoint::parse("198.51.100.1:49152");
    n.nat = 3;
    n.version = 42;
    n.key_version = 40;
    n.tags = {"tag:web"};
    n.ephemeral = true;
    n.key_expires_at = 123;
    n.last_seen = 99;
    n.container_subnets = {IpPrefix::parse("10.244.1.0/24")};
    CHECK(decode_node(encode_node(n), "k") == n);

    TokenRecord t;
    t.id = "0123456789abcdef";
    t.hash.fill(9);
    t.reusable = true;
    t.max_uses = 3;
    t.uses = 2;
    t.tags = {"tag:db"};
    CHECK(decode_token(encode_token(t), "k") == t);

    ContainerHold h{IpPrefix::parse("10.244.2.0/24"), n.machine_key, "alpha", 5000};
    CHECK(decode_hold(encode_hold(h), "k") == h);

    LiveNode live{"r1", NodePaths{NodePaths::Nat::endpoint_dependent,
                                  Endpoint::parse("203.0.113.5:40000"),
                                  {{"n-2", PeerPath::Kind::relay, std::nullopt, 1200}}}};
    CHECK(decode_live(encode_live(live), "k") == live);
    LiveNode fresh{"r2", std::nullopt};
    CHECK(decode_live(encode_live(fresh), "k") == fresh);

    AckSummary acks{17, {{"n-3", 12}}};
    CHECK(decode_acks(encode_acks(acks), "k") == acks);
}

TEST_CASE("etcd records: bytes that are no record are refused naming the key") {
    CHECK_THROWS_WITH(decode_node("\xff\xff", "/mesh/nodes/x"), Catch::Contains("/mesh/nodes/x"));
    CHECK_THROWS_AS(decode_node("", "k"), mesh::Error);  // no id
    CHECK_THROWS_WITH(decode_number("12a", "/mesh/version"), Catch::Contains("decimal"));
    CHECK_THROWS_WITH(decode_number("", "/mesh/version"), Catch::Contains("decimal"));
    CHECK(decode_number("18446744073709551615", "k") == 18446744073709551615ull);
}
