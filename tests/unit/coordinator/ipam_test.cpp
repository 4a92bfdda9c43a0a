#include <catch2/catch.hpp>

#include "coordinator/duration.hpp"
#include "coordinator/hostname.hpp"
#include "coordinator/ipam.hpp"
#include "coordinator/status_error.hpp"

using namespace mesh::coord;

TEST_CASE("allocate_ipv4 takes the lowest free host address") {
    auto prefix = IpPrefix::parse("10.0.0.0/30");
    std::set<IpAddress> used;
    auto a = allocate_ipv4(prefix, used);
    REQUIRE(a);
    CHECK(a->to_string() == "10.0.0.1");
    used.insert(*a);
    auto b = allocate_ipv4(prefix, used);
    REQUIRE(b);
    CHECK(b->to_string() == "10.0.0.2");
    used.insert(*b);
    CHECK_FALSE(allocate_ipv4(prefix, used));  // .3 is the broadcast address
    used.erase(*a);
    CHECK(allocate_ipv4(prefix, used)->to_string() == "10.0.0.1");
}

TEST_CASE("mirror_ipv6 keeps the v4 offset") {
    auto v4 = IpPrefix::parse("100.64.0.0/10");
    auto v6 = IpPrefix::parse("fd00:1:2::/48");
    CHECK(mirror_ipv6(v6, v4, IpAddress::parse("100.64.1.2")).to_string() == "fd00:1:2::102");
    CHECK(mirror_ipv6(v6, v4, IpAddress::parse("100.127.255.254")).to_string() ==
          "fd00:1:2::3f:fffe");
}

TEST_CASE("random ULA prefixes are fd00::/8 /48s and differ") {
    auto a = random_ula_prefix();
    auto b = random_ula_prefix();
    CHECK(a.length == 48);
    CHECK(a.address.bytes[0] == 0xfd);
    CHECK(a.masked() == a);
    CHECK(a != b);
    CHECK_NOTHROW(validate_overlay_prefixes(IpPrefix::parse("100.64.0.0/10"), a));
    CHECK_THROWS(validate_overlay_prefixes(a, a));
}

TEST_CASE("hostnames are normalized, validated and made unique") {
    CHECK(normalize_hostname("Web-01") == "web-01");
    CHECK_THROWS_AS(normalize_hostname(""), StatusError);
    CHECK_THROWS_AS(normalize_hostname("-web"), StatusError);
    CHECK_THROWS_AS(normalize_hostname("web.example"), StatusError);
    CHECK_THROWS_AS(normalize_hostname(std::string(64, 'a')), StatusError);
    CHECK_THROWS_AS(normalize_hostname("a b"), StatusError);
    std::set<std::string> taken{"web", "web-2"};
    CHECK(unique_hostname("web", [&](const std::string& h) { return taken.contains(h); }) ==
          "web-3");
    CHECK(unique_hostname("db", [&](const std::string& h) { return taken.contains(h); }) == "db");
}

TEST_CASE("durations (operator review): w, d, h, m, s, combined largest first") {
    CHECK(parse_duration("1w") == 7 * 86400);
    CHECK(parse_duration("1h30m") == 5400);
    CHECK(parse_duration("1w2d3h4m5s") == 9 * 86400 + 3 * 3600 + 4 * 60 + 5);
    CHECK(parse_duration("3650d") == 3650LL * 86400);  // a 10-year node key TTL
    CHECK_THROWS(parse_duration("3651d"));
    CHECK_THROWS(parse_duration("1m1h"));  // not largest first
    CHECK_THROWS(parse_duration("1h1h"));
    CHECK_THROWS(parse_duration("1h30"));  // a bare number only on its own
    CHECK_THROWS(parse_duration("h"));
    CHECK_THROWS(parse_duration("1.5h"));
    CHECK_THROWS_WITH(parse_duration("1x\n"), Catch::Contains("1x\\x0a"));
    CHECK(parse_duration("90") == 90);
    CHECK(parse_duration("15m") == 900);
    CHECK(parse_duration("24h") == 86400);
    CHECK(parse_duration("7d") == 7 * 86400);
    CHECK_THROWS(parse_duration(""));
    CHECK_THROWS(parse_duration("0s"));
    CHECK_THROWS(parse_duration("-5m"));
    CHECK_THROWS(parse_duration("5y"));
    CHECK_THROWS(parse_duration("99999999999d"));
}
