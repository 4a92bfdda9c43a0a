#include <catch2/catch.hpp>

#include "tests/unit/support/test_support.hpp"

#include "coordinator/container_subnets.hpp"
#include "coordinator/status_error.hpp"

using namespace mesh::coord;

namespace {

IpPrefix P(const char* text) {
    return IpPrefix::parse(text);
}

Code refusal(const char* text) {
    return mesh::test::code_of<StatusError>([&] { parse_container_request(text); });
}

}  // namespace

TEST_CASE("container requests: auto, none, unchanged and prefixes, bad ones refused") {
    CHECK(parse_container_request("").kind == ContainerRequest::Kind::unchanged);
    CHECK(parse_container_request("none").kind == ContainerRequest::Kind::none);
    CHECK(parse_container_request("auto").kind == ContainerRequest::Kind::automatic);
    auto r = parse_container_request("10.50.3.0/24");
    CHECK(r.kind == ContainerRequest::Kind::prefix);
    CHECK(r.prefix == P("10.50.3.0/24"));
    CHECK(parse_container_request("fd00:50::/64").prefix == P("fd00:50::/64"));
    for (const char* bad : {"10.50.3.1/24", "10.50.3.0", "garbage", "10.0.0.0/31", "10.0.0.0/7",
                            "127.0.0.0/24", "224.1.0.0/16", "169.254.1.0/24", "0.0.0.0/8",
                            "fe80::/64", "ff02::/64", "fd00::/20", "AUTO"}) {
        INFO(bad);
        CHECK(refusal(bad) == Code::invalid_argument);
    }
    try {
        parse_container_request("10.50.3.1/24");
        FAIL("accepted host bits");
    } catch (const StatusError& e) {
        CHECK(std::string(e.what()).find("did you mean 10.50.3.0/24") != std::string::npos);
    }
    try {
        parse_container_request("<script>/24");
        FAIL("accepted garbage");
    } catch (const StatusError& e) {
        CHECK(std::string(e.what()).find("script") == std::string::npos);  // never echoed
    }
}

TEST_CASE("the subnet index finds the one entry overlapping a prefix") {
    SubnetIndex index;
    index.add(P("10.1.0.0/24"), "a");
    index.add(P("10.1.2.0/23"), "b");
    index.add(P("10.3.0.0/16"), "c");
    index.add(P("fd00:1::/64"), "d");
    CHECK(index.overlapping(P("10.1.0.0/24"))->owner == "a");
    CHECK(index.overlapping(P("10.1.0.128/25"))->owner == "a");  // inside an entry
    CHECK(index.overlapping(P("10.1.3.0/24"))->owner == "b");    // inside, not at its start
    CHECK(index.overlapping(P("10.0.0.0/8"))->owner == "a");     // containing entries
    CHECK(index.overlapping(P("10.2.0.0/16")) == std::nullopt);
    CHECK(index.overlapping(P("10.1.1.0/24")) == std::nullopt);
    CHECK(index.overlapping(P("10.3.255.0/24"))->owner == "c");
    CHECK(index.overlapping(P("fd00:1::/48"))->owner == "d");
    CHECK(index.overlapping(P("fd00:2::/64")) == std::nullopt);
    CHECK(index.overlapping(P("0.0.0.0/0")).has_value());
    index.remove(P("10.1.0.0/24"));
    CHECK(index.overlapping(P("10.1.0.0/24")) == std::nullopt);
    CHECK(index.size() == 3);
}

TEST_CASE("blocks come from the pool lowest first, around taken ones of any size") {
    SubnetIndex nodes;
    auto next = [&] { return first_free_block(P("10.244.0.0/16"), 24, nodes); };
    CHECK(next() == P("10.244.0.0/24"));
    nodes.add(P("10.244.0.0/24"), "a");
    CHECK(next() == P("10.244.1.0/24"));
    nodes.add(P("10.244.1.0/24"), "b");
    nodes.add(P("10.244.2.0/23"), "manual, larger than a block");
    CHECK(next() == P("10.244.4.0/24"));
    nodes.add(P("10.244.4.128/25"), "smaller than a block");
    CHECK(next() == P("10.244.5.0/24"));
    nodes.remove(P("10.244.0.0/24"));
    CHECK(next() == P("10.244.0.0/24"));  // freed blocks are handed out again

    SubnetIndex full;
    for (int i = 0; i < 4; ++i) {
        full.add(P(("10.9." + std::to_string(i) + ".0/24").c_str()), "x");
    }
    CHECK(first_free_block(P("10.9.0.0/22"), 24, full) == std::nullopt);
    CHECK(first_free_block(P("10.9.0.0/22"), 21, full) == std::nullopt);  // larger than pool
    CHECK(first_free_block(P("fd00:9::/56"), 64, full) == P("fd00:9::/64"));
    full.add(P("fd00:9::/64"), "y");
    CHECK(first_free_block(P("fd00:9::/56"), 64, full) == P("fd00:9:0:1::/64"));
    // The last block of the address space: no wrap-around.
    SubnetIndex top;
    top.add(P("255.255.255.0/24"), "z");
    CHECK(first_free_block(P("255.255.255.0/24"), 24, top) == std::nullopt);
}

TEST_CASE("container pools are checked at start") {
    auto v4 = P("100.64.0.0/10"), v6 = P("fd00:aa::/48");
    CHECK_NOTHROW(validate_container_pool(P("10.244.0.0/16"), 24, v4, v6));
    CHECK_NOTHROW(validate_container_pool(P("fd00:bb::/56"), 64, v4, v6));
    CHECK_THROWS(validate_container_pool(P("10.244.0.0/16"), 8, v4, v6));   // block > pool
    CHECK_THROWS(validate_container_pool(P("10.244.0.0/16"), 31, v4, v6));  // no room
    CHECK_THROWS(validate_container_pool(P("100.64.0.0/16"), 24, v4, v6));  // the overlay
    CHECK_THROWS(validate_container_pool(P("fd00:aa:0:1::/64"), 64, v4, v6));
    CHECK_THROWS(validate_container_pool(P("224.0.0.0/8"), 24, v4, v6));  // multicast
}
