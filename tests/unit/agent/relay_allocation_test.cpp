#include <catch2/catch.hpp>

#include "agent/relay_allocation.hpp"

using namespace mesh::agent;
using namespace std::chrono_literals;

TEST_CASE("relay allocation: an unanswered Allocate is retried with backoff, then fails") {
    auto t = RelayAllocation::Clock::now();
    RelayAllocation a({mesh::kb::Endpoint::parse("203.0.113.5:3478"), "1:n", "p"}, t);
    int sent = 0;
    for (int step = 0; step < 200 && a.state() == RelayAllocation::State::allocating; ++step) {
        sent += static_cast<int>(a.poll(t).size());
        t += 50ms;
    }
    CHECK(sent == RelayAllocation::kAttempts);
    CHECK(a.state() == RelayAllocation::State::failed);
    CHECK(a.error().find("no answer from the TURN server 203.0.113.5:3478") != std::string::npos);
    CHECK(a.poll(t).empty());
}

TEST_CASE("relay allocation: answers to unknown transactions are not taken") {
    auto t = RelayAllocation::Clock::now();
    RelayAllocation a({mesh::kb::Endpoint::parse("203.0.113.5:3478"), "1:n", "p"}, t);
    mesh::kb::turn::Message stray;
    stray.method = mesh::kb::turn::Method::allocate;
    stray.cls = mesh::kb::turn::Class::success;
    stray.transaction = mesh::kb::turn::new_transaction();
    stray.relayed = mesh::kb::Endpoint::parse("203.0.113.5:50000");
    CHECK_FALSE(a.receive(mesh::kb::turn::encode(stray), t));
    CHECK(a.state() == RelayAllocation::State::allocating);
    CHECK_FALSE(a.receive(std::vector<std::uint8_t>{1, 2, 3}, t));
}
