#include <catch2/catch.hpp>

#include "agent/relay_allocation.hpp"

using namespace mesh::agent;
using namespace std::chrono_literals;

namespace {
RelayCredential credential() {
    RelayCredential c;
    c.server = mesh::kb::Endpoint::parse("203.0.113.5:3478");
    c.username = "1:n";
    c.password = "p";
    return c;
}
}  // namespace

TEST_CASE("relay allocation: an unanswered Allocate is retried with backoff, then fails") {
    auto t = RelayAllocation::Clock::now();
    RelayAllocation a(credential(), t);
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
    RelayAllocation a(credential(), t);
    mesh::kb::turn::Message stray;
    stray.method = mesh::kb::turn::Method::allocate;
    stray.cls = mesh::kb::turn::Class::success;
    stray.transaction = mesh::kb::turn::new_transaction();
    stray.relayed = mesh::kb::Endpoint::parse("203.0.113.5:50000");
    CHECK_FALSE(a.receive(mesh::kb::turn::encode(stray), t));
    CHECK(a.state() == RelayAllocation::State::allocating);
    CHECK_FALSE(a.receive(std::vector<std::uint8_t>{1, 2, 3}, t));
}

TEST_CASE("relay allocation: release sends one Refresh with lifetime 0, only when allocated") {
    auto t = RelayAllocation::Clock::now();
    RelayAllocation a(credential(), t);
    CHECK_FALSE(a.release());  // nothing allocated yet
    auto first = a.poll(t);
    REQUIRE(first.size() == 1);
    auto request = mesh::kb::turn::decode(first.front());
    REQUIRE(request);
    // The server's challenge, then its success.
    mesh::kb::turn::Message challenge;
    challenge.method = mesh::kb::turn::Method::allocate;
    challenge.cls = mesh::kb::turn::Class::error;
    challenge.transaction = request->transaction;
    challenge.error_code = 401;
    challenge.realm = "mesh";
    challenge.nonce = "n1";
    REQUIRE(a.receive(mesh::kb::turn::encode(challenge), t));
    auto signed_request = a.poll(t);
    REQUIRE(signed_request.size() == 1);
    auto allocate = mesh::kb::turn::decode(signed_request.front());
    REQUIRE(allocate);
    mesh::kb::turn::Message ok;
    ok.method = mesh::kb::turn::Method::allocate;
    ok.cls = mesh::kb::turn::Class::success;
    ok.transaction = allocate->transaction;
    ok.relayed = mesh::kb::Endpoint::parse("203.0.113.5:50000");
    ok.mapped = mesh::kb::Endpoint::parse("198.51.100.7:40000");
    ok.lifetime = 600;
    ok.username = "1:n";  // encode signs only with them there
    ok.realm = "mesh";
    const auto key = mesh::kb::turn::long_term_key("1:n", "mesh", "p");
    REQUIRE(a.receive(mesh::kb::turn::encode(ok, &key), t));
    REQUIRE(a.state() == RelayAllocation::State::allocated);

    auto bytes = a.release();
    REQUIRE(bytes);
    auto refresh = mesh::kb::turn::decode(*bytes);
    REQUIRE(refresh);
    CHECK(refresh->method == mesh::kb::turn::Method::refresh);
    CHECK(refresh->lifetime == 0u);
    CHECK(refresh->username == "1:n");
    CHECK(a.state() != RelayAllocation::State::allocated);
    CHECK_FALSE(a.release());  // once
    CHECK(a.poll(t + std::chrono::seconds(400)).empty());
}

TEST_CASE("relay order: UDP, TCP, TLS, and with UDP silent UDP last") {
    using mesh::agent::RelayCredential;
    using mesh::agent::RelayTransportKind;
    auto cred = [](const char* server, RelayTransportKind kind) {
        RelayCredential c;
        c.server = mesh::kb::Endpoint::parse(server);
        c.transport = kind;
        return c;
    };
    const std::vector<RelayCredential> offered = {cred("192.0.2.1:443", RelayTransportKind::tls),
                                                  cred("192.0.2.1:3478", RelayTransportKind::tcp),
                                                  cred("192.0.2.1:3478", RelayTransportKind::udp),
                                                  cred("192.0.2.2:3478", RelayTransportKind::udp)};
    auto order = [](const std::vector<RelayCredential>& list) {
        std::vector<std::string> out;
        for (const auto& c : list) {
            out.push_back(c.server.to_string() + "/" +
                          mesh::agent::relay_transport_name(c.transport));
        }
        return out;
    };
    CHECK(order(mesh::agent::relay_try_order(offered, false)) ==
          std::vector<std::string>{"192.0.2.1:3478/udp", "192.0.2.2:3478/udp", "192.0.2.1:3478/tcp",
                                   "192.0.2.1:443/tls"});
    CHECK(order(mesh::agent::relay_try_order(offered, true)) ==
          std::vector<std::string>{"192.0.2.1:3478/tcp", "192.0.2.1:443/tls", "192.0.2.1:3478/udp",
                                   "192.0.2.2:3478/udp"});
}
