// The pure parts of meshctl ping / netcheck: which peer a query names, the NAT-PMP codec, and
// ping's output, repeat and exit-code rules.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "agent/natpmp.hpp"
#include "agent/peer_lookup.hpp"
#include "agent/ping_view.hpp"

using namespace mesh;
using namespace mesh::agent;

namespace {

NetMap two_peers() {
    NetMap map;
    PeerInfo b;
    b.node_id = "n-b";
    b.hostname = "b";
    b.allowed_ips = {IpPrefix::parse("100.64.0.3/32"), IpPrefix::parse("10.250.3.0/24")};
    map.peers["n-b"] = b;
    PeerInfo c;
    c.node_id = "n-c";
    c.hostname = "c";
    c.allowed_ips = {IpPrefix::parse("100.64.0.4/32"), IpPrefix::parse("fd7a::4/128")};
    map.peers["n-c"] = c;
    return map;
}

v1::PingResponse reply(bool answered) {
    v1::PingResponse r;
    r.set_node_id("n-b");
    r.set_hostname("b");
    r.set_answered(answered);
    r.set_selected_path(answered ? "lan" : "relay");
    if (answered) {
        r.set_path("lan");
        r.set_endpoint("10.1.0.3:51820");
        r.set_rtt_us(420);
    }
    return r;
}

}  // namespace

TEST_CASE("meshctl ping finds a peer by hostname, node id or overlay address", "[meshctl]") {
    auto map = two_peers();
    CHECK(find_peer(map, "b") == "n-b");
    CHECK(find_peer(map, "n-c") == "n-c");
    CHECK(find_peer(map, "100.64.0.4") == "n-c");
    CHECK(find_peer(map, "fd7a::4") == "n-c");
    CHECK(find_peer(map, "10.250.3.7") == "n-b");  // inside its container subnet
    CHECK_FALSE(find_peer(map, "d"));
    CHECK_FALSE(find_peer(map, "100.64.0.9"));
    CHECK_FALSE(find_peer(map, ""));
}

TEST_CASE("a hostname two peers share names neither", "[meshctl]") {
    auto map = two_peers();
    map.peers["n-c"].hostname = "b";
    CHECK_FALSE(find_peer(map, "b"));
    CHECK(find_peer(map, "n-c") == "n-c");
}

TEST_CASE("NAT-PMP: the request and the answers of NAT-PMP and PCP gateways", "[meshctl]") {
    CHECK(natpmp_address_request() == std::vector<std::uint8_t>{0, 0});
    std::vector<std::uint8_t> ok{0, 128, 0, 0, 0, 0, 1, 0, 203, 0, 113, 1};
    auto a = parse_natpmp_answer(ok);
    REQUIRE(a);
    CHECK(a->version == 0);
    CHECK(a->result == 0);
    REQUIRE(a->external);
    CHECK(a->external->to_string() == "203.0.113.1");
    std::vector<std::uint8_t> refused{0, 128, 0, 3, 0, 0, 1, 0};
    auto r = parse_natpmp_answer(refused);
    REQUIRE(r);
    CHECK(r->result == 3);
    CHECK_FALSE(r->external);
    std::vector<std::uint8_t> pcp{2, 0x80, 0, 1};
    auto p = parse_natpmp_answer(pcp);
    REQUIRE(p);
    CHECK(p->version == 2);
    CHECK_FALSE(parse_natpmp_answer(std::vector<std::uint8_t>{0, 0, 0, 0}));       // a request
    CHECK_FALSE(parse_natpmp_answer(std::vector<std::uint8_t>{0, 128, 0, 0, 0}));  // short
    CHECK_FALSE(parse_natpmp_answer(std::vector<std::uint8_t>{1, 128, 0, 0}));
}

TEST_CASE("meshctl ping prints the path, endpoint and RTT of each answer", "[meshctl]") {
    CHECK(render_ping_line(reply(true), 1000) ==
          "pong from b (n-b) via lan 10.1.0.3:51820 in 0.42 ms\n");
    CHECK(render_ping_line(reply(false), 1000) ==
          "no answer from b (n-b) within 1000 ms (path in use: relay)\n");
    auto json = render_ping_json(reply(true));
    CHECK(json.find("\"path\":\"lan\"") != std::string::npos);
    CHECK(json.find("\"rtt_ms\":0.42") != std::string::npos);
}

TEST_CASE("meshctl ping: --count rounds, --until-direct stops at an answer, exit codes",
          "[meshctl]") {
    std::vector<v1::PingResponse> replies;
    CHECK(ping_again(replies, 3, false));
    replies.push_back(reply(false));
    CHECK(ping_again(replies, 3, true));
    CHECK(ping_exit_code(replies) == 1);
    replies.push_back(reply(true));
    CHECK_FALSE(ping_again(replies, 3, true));
    CHECK(ping_again(replies, 3, false));
    CHECK(ping_exit_code(replies) == 0);
    replies.push_back(reply(false));
    CHECK_FALSE(ping_again(replies, 3, false));
    CHECK(ping_exit_code(replies) == 0);
}
