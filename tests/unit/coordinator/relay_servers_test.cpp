#include <catch2/catch.hpp>

#include "coordinator/relay_servers.hpp"
#include "kmod-bridge/error.hpp"

using namespace mesh::coord;

TEST_CASE("relay URLs: turn and turns, ports, transports, hosts") {
    CHECK(parse_relay_url("turn:203.0.113.5").to_string() == "turn:203.0.113.5:3478");
    CHECK(parse_relay_url("turn:203.0.113.5:3479").port == 3479);
    auto tcp = parse_relay_url("turn:relay.example.com?transport=tcp");
    CHECK(tcp.tcp);
    CHECK(tcp.to_string() == "turn:relay.example.com:3478?transport=tcp");
    auto tls = parse_relay_url("turns:relay.example.com");
    CHECK(tls.tls);
    CHECK(tls.port == 5349);
    CHECK(parse_relay_url("turns:relay.example.com:443").to_string() ==
          "turns:relay.example.com:443");
    auto v6 = parse_relay_url("turn:[2001:db8::5]:3478?transport=udp");
    CHECK(v6.host == "2001:db8::5");
    CHECK(v6.to_string() == "turn:[2001:db8::5]:3478");
}

TEST_CASE("relay URLs: what is wrong is named") {
    auto refused = [](const char* text) {
        try {
            parse_relay_url(text);
        } catch (const mesh::Error& e) {
            return std::string(e.what());
        }
        FAIL("accepted " << text);
        return std::string();
    };
    CHECK(refused("stun:203.0.113.5").find("turn: or turns:") != std::string::npos);
    CHECK(refused("turn:203.0.113.5:0").find("port") != std::string::npos);
    CHECK(refused("turn:203.0.113.5:70000").find("port") != std::string::npos);
    CHECK(refused("turn:203.0.113.5?transport=sctp").find("transport") != std::string::npos);
    CHECK(refused("turns:relay.example.com?transport=udp").find("TCP") != std::string::npos);
    CHECK(refused("turn:[203.0.113.5]").find("IPv6") != std::string::npos);
    CHECK(refused("turn:bad_host!").find("host") != std::string::npos);
    CHECK(refused("turn:").find("host") != std::string::npos);
}

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
