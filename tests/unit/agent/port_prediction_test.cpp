#include <catch2/catch.hpp>

#include <set>

#include "agent/port_prediction.hpp"

using mesh::agent::PortSpray;
using mesh::agent::SprayConfig;
using mesh::kb::Endpoint;
using namespace std::chrono_literals;

TEST_CASE("port prediction: 256 ports around the mapping, 100 a second, for 10 s, then backoff") {
    const auto t0 = PortSpray::TimePoint{} + 1000s;
    PortSpray spray(Endpoint::parse("203.0.113.6:30000"), SprayConfig{}, t0);
    std::vector<Endpoint> sent;
    std::set<std::uint16_t> ports;
    // Called every 10 ms through the campaign: never more than the rate allows.
    for (auto t = t0; t < t0 + 10s; t += 10ms) {
        for (const auto& e : spray.due(t)) {
            CHECK(e.address.to_string() == "203.0.113.6");
            sent.push_back(e);
            ports.insert(e.port);
        }
    }
    CHECK(sent.size() >= 995);
    CHECK(sent.size() <= 1001);
    CHECK(ports.size() == 256);
    CHECK(*ports.begin() == 29984);   // 16 below
    CHECK(*ports.rbegin() == 30240);  // 240 above
    CHECK(!ports.contains(30000));    // the mapping itself is the peer's STUN flow
    CHECK(sent.front().port == 30001);
    CHECK(sent[239].port == 30240);
    CHECK(sent[240].port == 29999);
    // Then nothing for the first backoff (30 s), and the next campaign waits twice as long.
    CHECK(spray.due(t0 + 10s).empty());
    CHECK(spray.due(t0 + 39s).empty());
    CHECK(spray.next_due() == t0 + 40s);
    CHECK(spray.due(t0 + 40s).size() == 1);
    CHECK(spray.campaigns() == 2);
    CHECK(spray.due(t0 + 60s).empty());
    CHECK(spray.next_due() == t0 + 50s + 60s);
}

TEST_CASE("port prediction: a late call sends a second's worth at most, and no port above 65535") {
    const auto t0 = PortSpray::TimePoint{} + 1000s;
    PortSpray spray(Endpoint::parse("198.51.100.1:30000"), SprayConfig{}, t0);
    CHECK(spray.due(t0).size() == 1);
    CHECK(spray.due(t0 + 5s).size() == 100);  // 5 s late: 100, not 500
    CHECK(spray.due(t0 + 5s).empty());

    PortSpray top(Endpoint::parse("198.51.100.1:65530"), SprayConfig{}, t0);
    std::set<std::uint16_t> ports;
    for (auto t = t0; t < t0 + 2s; t += 100ms) {
        for (const auto& e : top.due(t)) ports.insert(e.port);
    }
    CHECK(ports.size() == 5 + 16);
    CHECK(*ports.rbegin() == 65535);
    SprayConfig nothing;
    nothing.ports = 0;
    PortSpray none(Endpoint::parse("198.51.100.1:40000"), nothing, t0);
    CHECK(none.due(t0 + 1s).empty());
    CHECK(none.next_due() == PortSpray::TimePoint::max());
}
