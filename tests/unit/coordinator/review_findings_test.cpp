// The coordinator core's side of the security review's findings 2, 7 and 12 (docs/SECURITY.md):
// expiry judged by the clock, not only by the reaper's mark; a TTL set later reaching the nodes
// that joined before; per-node log budgets.
#include <sodium.h>

#include <catch2/catch.hpp>

#include "coordinator/log_budget.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/tls_identity.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"
#include "sync_proof.hpp"
#include "tests/unit/support/test_support.hpp"

#include <filesystem>

using namespace mesh::coord;
using mesh::test::key_of;

namespace {

const std::string kFingerprint = "sha256:" + std::string(64, 'e');

struct Coordinator {
    SqliteStore& store;
    std::int64_t now;
    NetworkConfig network;
    std::vector<std::uint64_t> changes;
    Registry registry;

    Coordinator(SqliteStore& s, std::int64_t at, std::uint32_t ttl)
        : store(s),
          now(at),
          network([ttl] {
              NetworkConfig n;
              n.ipv6_prefix = IpPrefix::parse("fd00:bb::/48");
              n.node_key_ttl = ttl;
              return n;
          }()),
          registry(
              store, network, [this] { return now; },
              [this](std::uint64_t v) { changes.push_back(v); }) {}

    NodeRecord join(std::uint8_t n, const std::string& host) {
        auto token = registry.create_token({3600, false, 0, {}, false}).text;
        unsigned char seed[32], pk[32], sk[64];
        std::fill(std::begin(seed), std::end(seed), n);
        crypto_sign_seed_keypair(pk, sk, seed);
        Key machine;
        std::copy(std::begin(pk), std::end(pk), machine.bytes.begin());
        auto wg = key_of(n);
        auto message = mesh::v1::join_proof_message(
            kFingerprint, token, std::string(reinterpret_cast<const char*>(wg.bytes.data()), 32));
        std::string signature(crypto_sign_BYTES, '\0');
        crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                             sk);
        return registry.join({token, wg, machine, host, {}, {}, signature, kFingerprint, {}});
    }
};

}  // namespace

TEST_CASE("security 2: key_lapsed judges by the clock as well as by the mark") {
    NodeRecord n;
    CHECK_FALSE(key_lapsed(n, 100));  // never expires
    n.key_expires_at = 100;
    CHECK_FALSE(key_lapsed(n, 99));
    CHECK(key_lapsed(n, 100));
    n.key_expires_at = 0;
    n.expired = true;
    CHECK(key_lapsed(n, 0));
}

TEST_CASE("security 12: a TTL turned on later gives existing nodes an expiry, as a delta") {
    REQUIRE(sodium_init() >= 0);
    SqliteStore store(":memory:");
    NodeRecord never, later;
    {
        Coordinator before(store, 1'000'000, 0);  // started with --node-key-ttl 0
        never = before.join(1, "never");
    }
    {
        Coordinator longer(store, 1'000'000, 100'000);
        later = longer.join(2, "later");  // expires at now + 100000
    }
    Coordinator now(store, 1'000'500, 3600);  // restarted with 1h
    auto version = store.version();
    auto changed = now.registry.settle_key_expiry();
    CHECK(changed.size() == 2);
    CHECK(store.node(never.id)->key_expires_at == 1'000'500 + 3600);
    CHECK(store.node(later.id)->key_expires_at == 1'000'500 + 3600);
    CHECK(store.node(never.id)->version > version);  // peers get it in a delta
    CHECK(now.changes.size() == 1);
    CHECK(now.registry.settle_key_expiry().empty());  // once

    Coordinator longer_again(store, 1'000'600, 7200);  // a longer TTL leaves expiries alone
    CHECK(longer_again.registry.settle_key_expiry().empty());
    Coordinator off(store, 1'000'700, 0);  // turned off: agents stop rotating, so none expires
    CHECK(off.registry.settle_key_expiry().size() == 2);
    CHECK(store.node(never.id)->key_expires_at == 0);
}

TEST_CASE("security 12: settling the TTL leaves a lapsed node to the reaper") {
    REQUIRE(sodium_init() >= 0);
    SqliteStore store(":memory:");
    NodeRecord node;
    {
        Coordinator first(store, 1'000'000, 60);
        node = first.join(3, "old");
    }
    Coordinator restarted(store, 1'000'100, 3600);  // lapsed while the coordinator was down
    CHECK(restarted.registry.settle_key_expiry().empty());
    auto reaped = restarted.registry.reap([](const std::string&) { return false; }, 1'000'100);
    CHECK(reaped.expired == std::vector<std::string>{node.id});
}

TEST_CASE("security 7: a node's warnings come in a burst, then a steady trickle") {
    LogBudget budget(3, 10);
    std::uint64_t suppressed = 99;
    for (int i = 0; i < 3; ++i) CHECK(budget.allow("a", 1000, suppressed));
    CHECK(suppressed == 0);
    for (int i = 0; i < 500; ++i) CHECK_FALSE(budget.allow("a", 1005, suppressed));
    CHECK(budget.allow("b", 1005, suppressed));  // another node has its own budget
    CHECK(budget.allow("a", 1010, suppressed));
    CHECK(suppressed == 500);  // the next line says how many were left out
    CHECK_FALSE(budget.allow("a", 1011, suppressed));
    // 30 s later: refilled up to the burst, and no further.
    for (int i = 0; i < 3; ++i) CHECK(budget.allow("a", 1040, suppressed));
    CHECK_FALSE(budget.allow("a", 1040, suppressed));
}

TEST_CASE("security 15: a TLS key without its certificate is a crashed first start: a new pair") {
    char tmpl[] = "/tmp/mesh-tls-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    const std::string dir = tmpl;
    auto first = load_or_create_tls_identity(dir, "", "");
    CHECK(first.created);
    std::filesystem::remove(dir + "/tls/cert.pem");  // as if the crash came between the writes
    auto again = load_or_create_tls_identity(dir, "", "");
    CHECK(again.created);
    CHECK(again.fingerprint != first.fingerprint);
    auto kept = load_or_create_tls_identity(dir, "", "");  // and from then on, the same one
    CHECK_FALSE(kept.created);
    CHECK(kept.fingerprint == again.fingerprint);
    std::filesystem::remove(dir +
                            "/tls/key.pem");  // a certificate agents may pin: no silent new one
    CHECK_THROWS_WITH(load_or_create_tls_identity(dir, "", ""), Catch::Contains("has no key"));
    std::filesystem::remove_all(dir);
}
