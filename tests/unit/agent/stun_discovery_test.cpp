// StunDiscovery's silence: the signal on which the agent moves STUN to the coordinator replica
// its stream is on (the responder it asked is gone), and only then.
#include <catch2/catch.hpp>

#include "agent/stun_discovery.hpp"

using namespace mesh::agent;
using mesh::kb::Endpoint;

namespace {

PathFinder::RandomTransaction counter() {
    auto n = std::make_shared<std::uint8_t>(0);
    return [n] {
        mesh::kb::stun::TransactionId t{};
        t[0] = ++*n;
        return t;
    };
}

const Endpoint kA = Endpoint::parse("192.0.2.10:3478");
const Endpoint kA2 = Endpoint::parse("192.0.2.10:3479");
const Endpoint kMapped = Endpoint::parse("203.0.113.5:40000");

}  // namespace

TEST_CASE("stun: a round nobody answered is silent, and an answer or new servers end it") {
    StunDiscovery stun(StunConfig{}, counter());
    TimePoint now{};
    stun.set_servers({kA, kA2}, now);
    CHECK_FALSE(stun.silent());  // no round has ended yet
    auto asked = stun.due(now);
    REQUIRE(asked.size() == 2);
    now += std::chrono::seconds(3);  // the round times out unanswered
    stun.due(now);
    CHECK(stun.silent());
    CHECK_FALSE(stun.reflexive());

    // The same servers again change nothing; other servers start over, not silent yet.
    stun.set_servers({kA, kA2}, now);
    CHECK(stun.silent());
    const Endpoint kB = Endpoint::parse("192.0.2.11:3478");
    const Endpoint kB2 = Endpoint::parse("192.0.2.11:3479");
    stun.set_servers({kB, kB2}, now);
    CHECK_FALSE(stun.silent());
    asked = stun.due(now);
    REQUIRE(asked.size() == 2);
    CHECK(stun.answered(asked[0].transaction, kB, kMapped, now));
    CHECK(stun.answered(asked[1].transaction, kB2, kMapped, now));
    CHECK_FALSE(stun.silent());
    CHECK(stun.reflexive() == kMapped);
    CHECK(stun.nat_type({}) == NatType::endpoint_independent);
}

TEST_CASE("stun: one answer of two is not silence") {
    StunDiscovery stun(StunConfig{}, counter());
    TimePoint now{};
    stun.set_servers({kA, kA2}, now);
    auto asked = stun.due(now);
    REQUIRE(asked.size() == 2);
    CHECK(stun.answered(asked[0].transaction, kA, kMapped, now));
    now += std::chrono::seconds(3);
    stun.due(now);
    CHECK_FALSE(stun.silent());
    CHECK(stun.reflexive() == kMapped);
}
