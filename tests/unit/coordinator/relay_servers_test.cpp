#include <catch2/catch.hpp>

#include "coordinator/relay_servers.hpp"
#include "kmod-bridge/error.hpp"

using namespace mesh::coord;

TEST_CASE("relay secrets: long enough, nothing coturn would read otherwise") {
    CHECK_THROWS_AS(validate_relay_secret("short"), mesh::Error);
    CHECK_THROWS_AS(validate_relay_secret("0123456789abcdef 0123"), mesh::Error);
    CHECK_NOTHROW(validate_relay_secret("0123456789abcdef0123"));
}

TEST_CASE("relay credentials: one username per node, expiring with the TTL") {
    RelayConfig config;
    config.servers = {parse_relay_url("turn:203.0.113.5")};
    config.secret = "0123456789abcdef0123";
    config.credential_ttl = 600;
    auto a = relay_credentials(config, "n-a", 1000);
    auto b = relay_credentials(config, "n-b", 1000);
    CHECK(a.expires_at() == 1600);
    CHECK(a.servers(0).username() == "1600:n-a");
    CHECK(a.servers(0).password() != b.servers(0).password());
    CHECK(relay_credentials(RelayConfig{}, "n-a", 1000).servers_size() == 0);
}
