#include <catch2/catch.hpp>

#include "tests/unit/support/test_support.hpp"

#include "kmod-bridge/reconcile.hpp"

using namespace mesh::kb;
using mesh::test::key_of;

namespace {

PeerConfig peer(std::uint8_t n, std::string endpoint = "") {
    PeerConfig p;
    p.public_key = key_of(n);
    if (!endpoint.empty()) p.endpoint = Endpoint::parse(endpoint);
    p.allowed_ips = {IpPrefix::parse("100.64.0." + std::to_string(n) + "/32")};
    return p;
}

DeviceState state_of(const DeviceConfig& config) {
    DeviceState s;
    s.private_key = config.private_key;
    s.listen_port = config.listen_port.value_or(0);
    for (const auto& p : config.peers) {
        PeerState ps;
        ps.config = p;
        ps.last_handshake_sec = 1000;  // a live session, which must stay untouched
        s.peers.push_back(ps);
    }
    return s;
}

}  // namespace

TEST_CASE("reconcile of identical state is empty") {
    DeviceConfig want;
    want.private_key = key_of(9);
    want.listen_port = 51820;
    want.peers = {peer(1, "10.0.0.1:51820"), peer(2, "10.0.0.2:51820")};
    CHECK(reconcile(want, state_of(want)).empty());
}

TEST_CASE("reconcile adds only the new peer") {
    DeviceConfig want;
    want.peers = {peer(1), peer(2)};
    DeviceConfig have;
    have.peers = {peer(1)};
    auto u = reconcile(want, state_of(have));
    REQUIRE(u.peers.size() == 1);
    CHECK(u.peers[0].public_key == key_of(2));
    CHECK_FALSE(u.peers[0].update_only);
    CHECK(u.peers[0].replace_allowed_ips);
    CHECK(u.peers[0].allowed_ips == want.peers[1].allowed_ips);
    CHECK_FALSE(u.private_key);
    CHECK_FALSE(u.replace_peers);
}

TEST_CASE("reconcile removes only the departed peer") {
    DeviceConfig want;
    want.peers = {peer(1)};
    DeviceConfig have;
    have.peers = {peer(1), peer(2)};
    auto u = reconcile(want, state_of(have));
    REQUIRE(u.peers.size() == 1);
    CHECK(u.peers[0].public_key == key_of(2));
    CHECK(u.peers[0].remove);
}

TEST_CASE("reconcile changes only the differing field, update-only") {
    DeviceConfig have;
    have.peers = {peer(1, "10.0.0.1:51820"), peer(2, "10.0.0.2:51820")};
    DeviceConfig want = have;

    SECTION("endpoint") {
        want.peers[1].endpoint = Endpoint::parse("10.0.0.9:51820");
        auto u = reconcile(want, state_of(have));
        REQUIRE(u.peers.size() == 1);
        CHECK(u.peers[0].update_only);
        CHECK(u.peers[0].endpoint == want.peers[1].endpoint);
        CHECK_FALSE(u.peers[0].replace_allowed_ips);
        CHECK_FALSE(u.peers[0].persistent_keepalive);
    }
    SECTION("keepalive") {
        want.peers[0].persistent_keepalive = 25;
        auto u = reconcile(want, state_of(have));
        REQUIRE(u.peers.size() == 1);
        CHECK(u.peers[0].persistent_keepalive == 25);
        CHECK_FALSE(u.peers[0].endpoint);
    }
    SECTION("allowed ips, compared as a set") {
        want.peers[0].allowed_ips.push_back(IpPrefix::parse("10.10.0.0/24"));
        auto u = reconcile(want, state_of(have));
        REQUIRE(u.peers.size() == 1);
        CHECK(u.peers[0].replace_allowed_ips);
        CHECK(u.peers[0].allowed_ips.size() == 2);

        auto reordered = want;
        std::reverse(reordered.peers[0].allowed_ips.begin(), reordered.peers[0].allowed_ips.end());
        CHECK(reconcile(reordered, state_of(want)).empty());
    }
}

TEST_CASE("an absent desired endpoint keeps what the device learned") {
    DeviceConfig have;
    have.peers = {peer(1, "192.0.2.7:4000")};
    DeviceConfig want;
    want.peers = {peer(1)};
    CHECK(reconcile(want, state_of(have)).empty());
}

TEST_CASE("reconcile sets key and port only when they differ") {
    DeviceConfig have;
    have.private_key = key_of(1);
    have.listen_port = 1000;
    DeviceConfig want = have;
    want.private_key = key_of(2);
    auto u = reconcile(want, state_of(have));
    CHECK(u.private_key == key_of(2));
    CHECK_FALSE(u.listen_port);
    CHECK(u.peers.empty());
}

TEST_CASE("updates that set a keepalive come after all others") {
    DeviceConfig have;
    have.peers = {peer(1), peer(3)};
    DeviceConfig want = have;
    want.peers[0].persistent_keepalive = 25;  // key 1: keepalive turned on
    want.peers.push_back(peer(2));            // key 2: new, no keepalive
    want.peers.push_back(peer(4));
    want.peers.back().persistent_keepalive = 25;  // key 4: new, with keepalive
    auto u = reconcile(want, state_of(have));
    REQUIRE(u.peers.size() == 3);
    CHECK(u.peers[0].public_key == key_of(2));
    CHECK_FALSE(u.peers[0].persistent_keepalive);
    CHECK(u.peers[1].persistent_keepalive == 25);
    CHECK(u.peers[2].persistent_keepalive == 25);
}

TEST_CASE("reconcile_peers looks only at the touched peers") {
    DeviceConfig have;
    have.peers = {peer(1, "10.0.0.1:1"), peer(2, "10.0.0.2:1"), peer(3, "10.0.0.3:1")};
    DeviceConfig want = have;
    want.peers[0].endpoint = Endpoint::parse("10.0.0.9:1");  // touched: changed
    want.peers[1].endpoint = Endpoint::parse("10.0.0.8:1");  // changed but not listed: ignored
    want.peers.erase(want.peers.begin() + 2);                // touched: removed
    want.peers.push_back(peer(4));                           // touched: added
    auto u = reconcile_peers(want, state_of(have), {key_of(1), key_of(3), key_of(4), key_of(5)});
    REQUIRE(u.peers.size() == 3);
    CHECK(u.peers[0].public_key == key_of(1));
    CHECK(u.peers[0].update_only);
    CHECK(u.peers[1].public_key == key_of(3));
    CHECK(u.peers[1].remove);
    CHECK(u.peers[2].public_key == key_of(4));
    CHECK_FALSE(u.peers[2].update_only);
    CHECK(reconcile_peers(have, state_of(have), {key_of(1), key_of(2)}).empty());
}
