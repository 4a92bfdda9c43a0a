#include <catch2/catch.hpp>

#include <string>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/ip.hpp"

using namespace mesh::kb;
using namespace std::string_literals;

TEST_CASE("addresses, prefixes and endpoints print as text that parses back") {
    for (const char* text : {"192.0.2.1", "fd7a:115c:a1e0::1", "::ffff:192.0.2.1", "::"}) {
        auto a = IpAddress::parse(text);
        CHECK(a.to_string() == text);
        CHECK(IpAddress::parse(a.to_string()) == a);
    }
    CHECK(IpPrefix::parse("100.64.0.1/10", true).to_string() == "100.64.0.1/10");
    CHECK(IpPrefix::parse("100.64.0.1/10", true).masked() == IpPrefix::parse("100.64.0.0/10"));
    CHECK_THROWS_AS(IpPrefix::parse("100.64.0.1/10"), mesh::Error);
    CHECK(Endpoint::parse("[2001:db8::1]:51820").to_string() == "[2001:db8::1]:51820");
    CHECK(Endpoint::parse("192.0.2.1:1").port == 1);
    CHECK_THROWS_AS(Endpoint::parse("192.0.2.1:0"), mesh::Error);
    CHECK_THROWS_AS(Endpoint::parse("[192.0.2.1]:80"), mesh::Error);
}

TEST_CASE("text with an embedded NUL is not an address (found by ip_key_fuzz)") {
    // inet_pton stops at the NUL: these used to parse as fd7a::, 192.0.2.1 and 192.0.2.1:51820.
    CHECK_THROWS_AS(IpAddress::parse("fd7a::\0garbage"s), mesh::Error);
    CHECK_THROWS_AS(IpAddress::parse("192.0.2.1\0"s), mesh::Error);
    CHECK_THROWS_AS(IpPrefix::parse("192.0.2.1\0/32"s), mesh::Error);
    CHECK_THROWS_AS(Endpoint::parse("192.0.2.1\0junk:51820"s), mesh::Error);
}

TEST_CASE("prefixes overlap when one contains the other, never across families") {
    auto P = [](const char* text) { return IpPrefix::parse(text); };
    CHECK(P("10.0.0.0/8").overlaps(P("10.1.2.0/24")));
    CHECK(P("10.1.2.0/24").overlaps(P("10.0.0.0/8")));
    CHECK(P("10.1.2.0/24").overlaps(P("10.1.2.0/24")));
    CHECK_FALSE(P("10.1.2.0/24").overlaps(P("10.1.3.0/24")));
    CHECK(P("0.0.0.0/0").overlaps(P("192.0.2.1/32")));
    CHECK_FALSE(P("0.0.0.0/0").overlaps(P("::/0")));
    CHECK(P("fd00::/8").overlaps(P("fd00:1::/64")));
    CHECK_FALSE(P("fd00:1::/64").overlaps(P("fd00:2::/64")));
}
