// Which replica the Sync stream (and the join) tries next, and the wait before it: quick after a
// replica that was serving us broke, quick within a pass, exponential only over whole passes,
// and with one replica exactly the single coordinator's reconnect backoff.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "agent/coordinator_rotation.hpp"

using namespace mesh::agent;
using std::chrono::milliseconds;

namespace {

Backoff::Random constant(double r) {
    return [r] { return r; };
}

Backoff::Random seeded(unsigned seed) {
    auto engine = std::make_shared<std::mt19937>(seed);
    return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

std::vector<std::size_t> identity(std::size_t n) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    return order;
}

}  // namespace

TEST_CASE("replica order: a permutation, starting where asked") {
    for (unsigned seed = 0; seed < 50; ++seed) {
        auto order = replica_order(5, std::nullopt, seeded(seed));
        std::set<std::size_t> seen(order.begin(), order.end());
        CHECK(order.size() == 5);
        CHECK(seen == std::set<std::size_t>{0, 1, 2, 3, 4});
        auto from_three = replica_order(5, 3, seeded(seed));
        CHECK(from_three.front() == 3);
        CHECK(std::set<std::size_t>(from_three.begin(), from_three.end()) == seen);
    }
    CHECK(replica_order(1, std::nullopt, constant(0.99)) == std::vector<std::size_t>{0});
    CHECK(replica_order(3, 7, constant(0.0)).size() == 3);  // an unknown first is ignored
    CHECK(replica_order(0, std::nullopt, constant(0.5)).empty());
    auto edge = replica_order(4, std::nullopt, constant(1.0));  // a source that returns 1
    CHECK(std::set<std::size_t>(edge.begin(), edge.end()).size() == 4);
}

TEST_CASE("replica order: the agents of one replica spread over the others") {
    std::map<std::size_t, int> second;
    for (unsigned seed = 0; seed < 300; ++seed) second[replica_order(3, 0, seeded(seed))[1]]++;
    // Replica 0 dies: its agents' next choice is replica 1 or 2, about half each.
    CHECK(second.size() == 2);
    CHECK(second[1] > 100);
    CHECK(second[2] > 100);
}

TEST_CASE("rotation: one replica backs off exactly as the single coordinator did") {
    CoordinatorRotation rotation({0}, FailoverTiming{}, constant(0.0));
    // Draws are d/2 with r = 0: 250 ms doubling to 15 s.
    std::vector<long> delays;
    for (int i = 0; i < 9; ++i) {
        auto step = rotation.failed(false);
        CHECK(step.replica == 0);
        CHECK_FALSE(step.moved);
        delays.push_back(step.delay.count());
    }
    CHECK(delays == std::vector<long>{125, 250, 500, 1000, 2000, 4000, 7500, 7500, 7500});
    CHECK(rotation.failures() == 9);
    auto after_up = rotation.failed(true);  // a stream that was up resets the backoff
    CHECK(after_up.delay == milliseconds(125));
    CHECK(rotation.failures() == 1);
}

TEST_CASE("rotation: a replica that broke is left for the next within 300 ms") {
    for (double r : {0.0, 0.25, 0.5, 0.75, 0.999}) {
        CoordinatorRotation rotation(identity(3), FailoverTiming{}, constant(r));
        // Some failures first: a long outage does not slow the move after a stream that was up.
        for (int i = 0; i < 12; ++i) rotation.failed(false);
        const auto from = rotation.current();
        auto step = rotation.failed(true);
        CHECK(step.moved);
        CHECK(step.replica != from);
        CHECK(step.delay >= milliseconds(50));
        CHECK(step.delay <= milliseconds(300));
    }
}

TEST_CASE("rotation: every replica once per pass, backing off only between passes") {
    CoordinatorRotation rotation(std::vector<std::size_t>{2, 0, 1}, FailoverTiming{},
                                 constant(0.0));
    CHECK(rotation.current() == 2);
    auto s1 = rotation.failed(true);  // the stream on 2 broke
    CHECK(s1.replica == 0);
    CHECK(s1.delay == milliseconds(50));
    auto s2 = rotation.failed(false);  // 0 cannot be reached either
    CHECK(s2.replica == 1);
    CHECK(s2.delay == milliseconds(50));
    auto s3 = rotation.failed(false);  // nor 1: the pass is over
    CHECK(s3.replica == 2);
    CHECK(s3.delay == milliseconds(125));
    // The next pass: quick within it, the backoff doubled at its end.
    CHECK(rotation.failed(false).delay == milliseconds(50));
    CHECK(rotation.failed(false).delay == milliseconds(50));
    CHECK(rotation.failed(false).delay == milliseconds(250));
    // All down for long: passes are capped at the single coordinator's 15 s (7.5-15 s drawn).
    for (int i = 0; i < 60; ++i) rotation.failed(false);
    std::vector<std::size_t> visited;
    milliseconds longest{0};
    for (int i = 0; i < 3; ++i) {
        auto step = rotation.failed(false);
        visited.push_back(step.replica);
        longest = std::max(longest, step.delay);
    }
    std::sort(visited.begin(), visited.end());
    CHECK(visited == std::vector<std::size_t>{0, 1, 2});
    CHECK(longest == milliseconds(7500));
}

TEST_CASE("rotation: kill -9 of the serving replica with the others up") {
    // The stream on replica 0 breaks; the next one answers: the move costs one quick jitter.
    CoordinatorRotation rotation(identity(3), FailoverTiming{}, seeded(7));
    auto step = rotation.failed(true);
    CHECK(step.moved);
    CHECK(step.delay <= milliseconds(300));
    // Up there, it breaks too (killed as well): on to the third, still quick.
    step = rotation.failed(true);
    CHECK(step.moved);
    CHECK(step.delay <= milliseconds(300));
}

TEST_CASE("rotation: a map out of step retries the same replica") {
    CoordinatorRotation rotation(identity(2), FailoverTiming{}, constant(0.0));
    rotation.failed(false);
    rotation.failed(false);  // a whole pass: the backoff has grown
    auto step = rotation.again();
    CHECK_FALSE(step.moved);
    CHECK(step.replica == rotation.current());
    CHECK(step.delay == milliseconds(125));  // the first step again
    CHECK(rotation.failures() == 0);
}

TEST_CASE("rotation: the join's timing moves on at once within a pass") {
    FailoverTiming join{milliseconds(0), milliseconds(0), milliseconds(500),
                        std::chrono::seconds(4)};
    CoordinatorRotation rotation(identity(3), join, constant(0.0));
    CHECK(rotation.failed(false).delay == milliseconds(0));
    CHECK(rotation.failed(false).delay == milliseconds(0));
    CHECK(rotation.failed(false).delay == milliseconds(250));
    CoordinatorRotation single({0}, join, constant(0.0));
    CHECK(single.failed(false).delay == milliseconds(250));  // the old join retry's first wait
    CHECK(single.failed(false).delay == milliseconds(500));
}
