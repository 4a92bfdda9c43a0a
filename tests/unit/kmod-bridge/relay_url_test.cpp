#include <catch2/catch.hpp>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/relay_url.hpp"

using namespace mesh::kb;

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
