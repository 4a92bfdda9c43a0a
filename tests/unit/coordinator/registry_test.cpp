#include <sodium.h>
#include <catch2/catch.hpp>

#include <algorithm>

#include "sync_proof.hpp"

#include "tests/unit/support/test_support.hpp"

#include "coordinator/convert.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/status_error.hpp"

using namespace mesh::coord;
using mesh::test::key_of;
inline Code code_of(const std::function<void()>& fn) {
    return mesh::test::code_of<StatusError>(fn);
}

namespace {

TokenParams token_params(std::int64_t ttl, bool reusable, std::uint32_t max_uses) {
    TokenParams p;
    p.ttl_seconds = ttl;
    p.reusable = reusable;
    p.max_uses = max_uses;
    return p;
}

// What fn was refused with: its code and message; fails the test when fn is not refused.
struct Refusal {
    Code code;
    std::string message;
    bool says(const std::string& text) const { return message.find(text) != std::string::npos; }
};
Refusal refusal_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const StatusError& e) {
        return {e.code(), e.what()};
    }
    FAIL("expected a StatusError");
    return {};
}

const std::string kFingerprint = "sha256:" + std::string(64, 'f');

NetworkConfig test_network(std::vector<ContainerPool> pools, std::uint32_t container_grace) {
    NetworkConfig n;
    n.ipv6_prefix = IpPrefix::parse("fd00:aa::/48");
    n.container_pools = std::move(pools);
    n.container_grace = container_grace;
    return n;
}

struct Fixture {
    // By default a container pool of four blocks.
    explicit Fixture(std::vector<ContainerPool> pools = {{IpPrefix::parse("10.244.0.0/22"), 24}},
                     std::uint32_t container_grace = 86400)
        : network(test_network(std::move(pools), container_grace)) {}

    SqliteStore store{":memory:"};
    std::int64_t now = 1'000'000;
    std::vector<std::uint64_t> changes;
    NetworkConfig network;
    Registry registry{store, network, [this] { return now; },
                      [this](std::uint64_t v) { changes.push_back(v); }};

    NodeRecord join(const std::string& token, std::uint8_t wg, std::uint8_t machine,
                    const std::string& host, const std::string& container = "") {
        // The machine key is derived from a seed of `machine`, so the join can be signed.
        unsigned char seed[32], pk[32], sk[64];
        std::fill(std::begin(seed), std::end(seed), machine);
        crypto_sign_seed_keypair(pk, sk, seed);
        Key machine_key;
        std::copy(std::begin(pk), std::end(pk), machine_key.bytes.begin());
        auto wg_key = key_of(wg);
        auto message = mesh::v1::join_proof_message(
            kFingerprint, token,
            std::string(reinterpret_cast<const char*>(wg_key.bytes.data()), 32));
        std::string signature(crypto_sign_BYTES, '\0');
        crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                             sk);
        return registry.join({token,
                              wg_key,
                              machine_key,
                              host,
                              {},
                              {},
                              signature,
                              kFingerprint,
                              parse_container_request(container)});
    }
};

}  // namespace

TEST_CASE("join allocates addresses and consumes a single-use token") {
    Fixture f;
    auto token = f.registry.create_token(token_params(3600, false, 0)).text;
    auto node = f.join(token, 1, 101, "alpha");
    CHECK(node.ipv4.to_string() == "100.64.0.1");
    CHECK(node.ipv6.to_string() == "fd00:aa::1");
    CHECK(node.key_version == node.version);
    CHECK(f.changes == std::vector<std::uint64_t>{node.version});
    CHECK(code_of([&] { f.join(token, 2, 102, "beta"); }) == Code::permission_denied);
    CHECK(f.store.nodes().size() == 1);
}

TEST_CASE("re-join with the same machine key keeps the node and its addresses") {
    Fixture f;
    auto token = f.registry.create_token(token_params(3600, true, 0)).text;
    auto first = f.join(token, 1, 101, "alpha");
    f.join(token, 2, 102, "beta");
    auto again = f.join(token, 3, 101, "alpha");  // new WireGuard key, same machine
    CHECK(again.id == first.id);
    CHECK(again.ipv4 == first.ipv4);
    CHECK(again.wireguard_key == key_of(3));
    CHECK(again.key_version > first.key_version);
    CHECK(f.store.nodes().size() == 2);
    auto same_key = f.join(token, 3, 101, "alpha");
    CHECK(same_key.key_version == again.key_version);  // unchanged key: no new handshake needed
}

TEST_CASE("refused joins store nothing") {
    Fixture f;
    auto token = f.registry.create_token(token_params(60, true, 0)).text;
    f.join(token, 1, 101, "alpha");
    auto version = f.store.version();
    SECTION("a WireGuard key claimed by another machine") {
        CHECK(code_of([&] { f.join(token, 1, 102, "beta"); }) == Code::permission_denied);
    }
    SECTION("a zero WireGuard key") {
        CHECK(code_of([&] { f.join(token, 0, 102, "beta"); }) == Code::invalid_argument);
    }
    SECTION("a bad hostname") {
        CHECK(code_of([&] { f.join(token, 2, 102, "no spaces"); }) == Code::invalid_argument);
    }
    SECTION("an unknown token") {
        auto other = generate_token(f.now, 60, false, 0).text;
        CHECK(code_of([&] { f.join(other, 2, 102, "beta"); }) == Code::unauthenticated);
    }
    SECTION("an expired token") {
        f.now += 61;
        CHECK(code_of([&] { f.join(token, 2, 102, "beta"); }) == Code::permission_denied);
    }
    CHECK(f.store.version() == version);
    CHECK(f.store.nodes().size() == 1);
    CHECK(f.store.tokens()[0].uses == 1);
}

TEST_CASE("duplicate hostnames get a suffix") {
    Fixture f;
    auto token = f.registry.create_token(token_params(60, true, 0)).text;
    f.join(token, 1, 101, "web");
    CHECK(f.join(token, 2, 102, "web").hostname == "web-2");
}

TEST_CASE("the store refuses a node clashing with another on a unique column, deleting nothing") {
    Fixture f;
    auto token = f.registry.create_token(token_params(3600, true, 0)).text;
    auto a = f.join(token, 1, 101, "a");
    auto b = f.join(token, 2, 102, "b");
    auto clash = b;
    clash.wireguard_key = a.wireguard_key;
    CHECK_THROWS_AS(f.store.put_node(clash), mesh::Error);
    clash = b;
    clash.ipv4 = a.ipv4;
    CHECK_THROWS_AS(f.store.put_node(clash), mesh::Error);
    CHECK(f.store.node(a.id) == a);
    CHECK(f.store.node(b.id) == b);
}

TEST_CASE("container subnets: auto blocks, own prefixes, overlaps refused naming the holder") {
    Fixture f;
    auto token = f.registry.create_token(token_params(3600, true, 0)).text;
    auto a = f.join(token, 1, 101, "a", "auto");
    auto b = f.join(token, 2, 102, "b", "auto");
    auto c = f.join(token, 3, 103, "c");
    REQUIRE(a.container_subnets == std::vector{IpPrefix::parse("10.244.0.0/24")});
    REQUIRE(b.container_subnets == std::vector{IpPrefix::parse("10.244.1.0/24")});
    CHECK(c.container_subnets.empty());
    // Stored, and in the map for peers.
    CHECK(f.store.node(a.id)->container_subnets == a.container_subnets);
    CHECK(f.registry.node(b.id)->container_subnets == b.container_subnets);

    // A re-join keeps the subnet: asking again, or not saying.
    CHECK(f.join(token, 1, 101, "a", "auto").container_subnets == a.container_subnets);
    CHECK(f.join(token, 1, 101, "a").container_subnets == a.container_subnets);
    // Or naming its own block: it is the host's already, pool block or not.
    CHECK(f.join(token, 1, 101, "a", "10.244.0.0/24").container_subnets == a.container_subnets);

    // Own prefixes: outside the overlay, the pool, and other hosts' subnets.
    CHECK(f.join(token, 3, 103, "c", "192.168.50.0/24").container_subnets ==
          std::vector{IpPrefix::parse("192.168.50.0/24")});
    auto refused = [&](const std::string& prefix) {
        auto r = refusal_of([&] { f.join(token, 4, 104, "d", prefix); });
        CHECK(r.code == Code::invalid_argument);
        return r;
    };
    CHECK(refused("192.168.50.128/25").says("of host c (" + c.id + ")"));
    CHECK(refused("192.168.0.0/16").says("of host c"));
    CHECK(refused("10.244.3.0/24").says("container pool 10.244.0.0/22"));
    // A pool block another host holds: the holder is named, not just the pool.
    CHECK(refused("10.244.1.0/24").says("of host b (" + b.id + ")"));
    CHECK(refused("100.64.7.0/24").says("overlay"));
    CHECK(refused("fd00:aa:0:5::/64").says("overlay"));
    CHECK(f.registry.node(c.id)->container_subnets.size() == 1);  // nothing changed
    CHECK(!f.store.node_by_hostname("d"));                        // nothing stored

    // "none" gives the block back to the pool; the next auto gets it.
    CHECK(f.join(token, 1, 101, "a", "none").container_subnets.empty());
    CHECK(f.join(token, 4, 104, "d", "auto").container_subnets ==
          std::vector{IpPrefix::parse("10.244.0.0/24")});
}

TEST_CASE("container subnets: a removed host's block is held for it through the grace period") {
    Fixture f;  // grace: the default 24 h
    auto token = f.registry.create_token(token_params(86400 * 3, true, 0)).text;
    f.join(token, 1, 101, "a", "auto");
    auto b = f.join(token, 2, 102, "b", "auto");
    const auto block_b = IpPrefix::parse("10.244.1.0/24");
    REQUIRE(b.container_subnets == std::vector{block_b});
    f.registry.remove_node(b.id);

    // Nobody else gets it: not by auto, not by name (the message says why and for how long).
    CHECK(f.join(token, 3, 103, "c", "auto").container_subnets ==
          std::vector{IpPrefix::parse("10.244.2.0/24")});
    auto r = refusal_of([&] { f.join(token, 4, 104, "d", "10.244.1.0/25"); });
    CHECK(r.code == Code::invalid_argument);
    CHECK(r.says("held for the removed host b"));

    // Kept across a coordinator restart: it is in the store, with the machine it is held for.
    auto stored = f.store.container_holds();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].prefix == block_b);
    CHECK(stored[0].machine_key == b.machine_key);
    CHECK(stored[0].until == f.now + 86400);

    // The same machine back within the grace period: its block again, as a new node.
    f.now += 3600;
    auto back = f.join(token, 5, 102, "b", "auto");
    CHECK(back.id != b.id);
    CHECK(back.container_subnets == std::vector{block_b});

    CHECK(f.store.container_holds().empty());  // taken back: no longer held

    // Removed again, and the grace period passes: the block returns to the pool.
    f.registry.remove_node(back.id);
    f.now += 86400 + 1;
    CHECK(f.join(token, 6, 106, "e", "auto").container_subnets ==
          std::vector{IpPrefix::parse("10.244.1.0/24")});
}

TEST_CASE("container subnets: with no grace period a removed host's block is free at once") {
    Fixture f({{IpPrefix::parse("10.244.0.0/22"), 24}}, 0);
    auto token = f.registry.create_token(token_params(3600, true, 0)).text;
    f.join(token, 1, 101, "a", "auto");
    auto b = f.join(token, 2, 102, "b", "auto");
    f.registry.remove_node(b.id);
    CHECK(f.join(token, 3, 103, "c", "auto").container_subnets == b.container_subnets);
}

TEST_CASE("container subnets: a full pool and a missing pool are clear errors") {
    Fixture f;
    auto token = f.registry.create_token(token_params(3600, true, 0)).text;
    for (std::uint8_t i = 1; i <= 4; ++i)
        f.join(token, i, static_cast<std::uint8_t>(100 + i), "h", "auto");
    auto full = refusal_of([&] { f.join(token, 9, 109, "full", "auto"); });
    CHECK(full.code == Code::resource_exhausted);
    CHECK(full.says("10.244.0.0/22"));
    CHECK(!f.store.node_by_hostname("full"));

    Fixture without(std::vector<ContainerPool>{});
    auto token2 = without.registry.create_token(token_params(3600, true, 0)).text;
    auto no_pool = refusal_of([&] { without.join(token2, 1, 101, "a", "auto"); });
    CHECK(no_pool.code == Code::failed_precondition);
    CHECK(no_pool.says("--container-pool"));
    CHECK(without.store.nodes().empty());
    // Its own prefix needs no pool, and "auto" then keeps it.
    const std::vector own{IpPrefix::parse("10.1.2.0/24")};
    CHECK(without.join(token2, 1, 101, "a", "10.1.2.0/24").container_subnets == own);
    CHECK(without.join(token2, 1, 101, "a", "auto").container_subnets == own);
}

TEST_CASE("container subnets: auto keeps a host's own subnet of a family without a pool") {
    Fixture f;  // an IPv4 pool only
    auto token = f.registry.create_token(token_params(3600, true, 0)).text;
    auto own = IpPrefix::parse("fd00:50::/64");
    REQUIRE(f.join(token, 1, 101, "a", own.to_string()).container_subnets == std::vector{own});
    // The IPv4 pool fills in its family; the host's IPv6 subnet stays.
    CHECK(f.join(token, 1, 101, "a", "auto").container_subnets ==
          std::vector{own, IpPrefix::parse("10.244.0.0/24")});
    // Its own IPv4 prefix replaces the block and keeps the IPv6 one.
    CHECK(f.join(token, 1, 101, "a", "192.168.9.0/24").container_subnets ==
          std::vector{IpPrefix::parse("192.168.9.0/24"), own});
}

TEST_CASE("a node's reported NAT type is stored with its relay and reaches its peers") {
    Fixture f;
    auto token = f.registry.create_token(token_params(3600, true, 0)).text;
    auto alpha = f.join(token, 1, 101, "alpha");
    CandidateReport report;
    report.endpoints = {Endpoint::parse("203.0.113.7:51820")};
    report.relay_given = true;
    report.relay = Endpoint::parse("203.0.113.5:50001");
    report.nat = mesh::v1::NAT_ENDPOINT_DEPENDENT;
    CHECK(f.registry.update_endpoints_batch({{alpha.id, report}}) ==
          std::vector<std::string>{alpha.id});
    auto stored = f.store.node(alpha.id);
    REQUIRE(stored);
    CHECK(stored->nat == mesh::v1::NAT_ENDPOINT_DEPENDENT);
    CHECK(mesh::coord::to_proto(*stored).nat() == mesh::v1::NAT_ENDPOINT_DEPENDENT);
    CHECK(mesh::coord::nat_from_proto(99) == 0);  // a newer agent's value: unknown
    // The same report again changes nothing; only the NAT type changed is a change.
    CHECK(f.registry.update_endpoints_batch({{alpha.id, report}}).empty());
    report.nat = mesh::v1::NAT_ENDPOINT_INDEPENDENT;
    CHECK(f.registry.update_endpoints_batch({{alpha.id, report}}).size() == 1);
    CHECK(f.store.node(alpha.id)->nat == mesh::v1::NAT_ENDPOINT_INDEPENDENT);
}
