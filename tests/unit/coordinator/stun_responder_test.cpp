// The STUN responder on loopback: answers Binding requests on both ports with the sender's
// address, from the port they arrived on; never answers anything else; stops promptly.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "coordinator/stun_responder.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/stun.hpp"

using mesh::coord::stun_answer;
using mesh::coord::StunResponder;
using mesh::kb::Endpoint;
using mesh::kb::UniqueFd;
namespace stun = mesh::kb::stun;

namespace {

constexpr auto kQuiet = std::chrono::milliseconds(200);

Endpoint endpoint_of(const sockaddr_in& sin) {
    Endpoint e;
    std::memcpy(e.address.bytes.data(), &sin.sin_addr, 4);
    e.port = ntohs(sin.sin_port);
    return e;
}

sockaddr_in sockaddr_of(const Endpoint& e) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(e.port);
    std::memcpy(&sin.sin_addr, e.address.bytes.data(), 4);
    return sin;
}

Endpoint loopback(std::uint16_t port) {
    return Endpoint::parse("127.0.0.1:" + std::to_string(port));
}

// A UDP socket bound to 127.0.0.1 on a port the kernel picks.
struct UdpClient {
    UniqueFd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    Endpoint local;

    explicit UdpClient(std::uint16_t port = 0) {
        REQUIRE(fd);
        sockaddr_in sin = sockaddr_of(loopback(1));
        sin.sin_port = htons(port);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
            throw mesh::Error("bind: " + std::string(std::strerror(errno)));
        }
        socklen_t size = sizeof sin;
        REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &size) == 0);
        local = endpoint_of(sin);
    }

    void send_to(const Endpoint& to, const std::vector<std::uint8_t>& bytes) {
        sockaddr_in sin = sockaddr_of(to);
        REQUIRE(::sendto(fd.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&sin),
                         sizeof sin) == static_cast<ssize_t>(bytes.size()));
    }

    // The next datagram and its sender, or nullopt when none arrives within the timeout.
    std::optional<std::pair<Endpoint, std::vector<std::uint8_t>>> receive(
        std::chrono::milliseconds timeout = kQuiet) {
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        std::vector<std::uint8_t> buffer(2048);
        sockaddr_in from{};
        socklen_t size = sizeof from;
        ssize_t n = ::recvfrom(fd.get(), buffer.data(), buffer.size(), 0,
                               reinterpret_cast<sockaddr*>(&from), &size);
        REQUIRE(n >= 0);
        buffer.resize(static_cast<std::size_t>(n));
        return std::pair{endpoint_of(from), buffer};
    }
};

std::uint16_t free_port() {
    return UdpClient().local.port;  // closed again at once: free unless someone races us
}

// A responder on HOST ("127.0.0.1", "[::]"), at a port the kernel just handed out (and the one
// after it). nullptr, with the reason in `unbindable`, when HOST cannot be bound at all (no IPv6).
std::unique_ptr<StunResponder> start_responder(const std::string& host, std::string& unbindable) {
    for (int attempt = 0; attempt < 20; ++attempt) {
        std::uint16_t port = free_port();
        if (port == 65535) continue;
        try {
            return std::make_unique<StunResponder>(
                Endpoint::parse(host + ":" + std::to_string(port)));
        } catch (const mesh::Error& e) {
            if (std::string(e.what()).find("in use") == std::string::npos) {
                unbindable = e.what();
                return nullptr;
            }
            // port + 1 was taken: try another pair
        }
    }
    FAIL("no free pair of UDP ports on " << host);
    return nullptr;
}

std::unique_ptr<StunResponder> start_responder() {
    std::string unbindable;
    auto responder = start_responder("127.0.0.1", unbindable);
    if (!responder) FAIL("cannot bind 127.0.0.1: " << unbindable);
    return responder;
}

std::vector<std::uint8_t> message(stun::Type type, std::uint8_t seed) {
    stun::Message m;
    m.type = type;
    m.transaction.fill(seed);
    if (type != stun::Type::binding_request) m.mapped = loopback(9);
    if (type == stun::Type::binding_error) m.error_code = 400;
    if (type == stun::Type::binding_request) m.padding = stun::kBindingRequestPadding;  // as agents
    return stun::encode(m);
}

}  // namespace

TEST_CASE("stun: a binding request on either port is answered with the sender's address",
          "[stun]") {
    auto responder = start_responder();
    UdpClient client;
    for (std::uint16_t port :
         {responder->port(), static_cast<std::uint16_t>(responder->port() + 1)}) {
        INFO("port " << port);
        client.send_to(loopback(port),
                       message(stun::Type::binding_request, static_cast<std::uint8_t>(port)));
        auto answer = client.receive(std::chrono::seconds(2));
        REQUIRE(answer);
        CHECK(answer->first == loopback(port));  // from the socket the request arrived on
        auto decoded = stun::decode(answer->second);
        REQUIRE(decoded);
        CHECK(decoded->type == stun::Type::binding_success);
        stun::TransactionId expected;
        expected.fill(static_cast<std::uint8_t>(port));
        CHECK(decoded->transaction == expected);
        REQUIRE(decoded->mapped);
        CHECK(*decoded->mapped == client.local);
    }
}

TEST_CASE("stun: anything but a binding request gets no answer", "[stun]") {
    auto responder = start_responder();
    UdpClient client;
    auto request = message(stun::Type::binding_request, 7);
    auto truncated = std::vector<std::uint8_t>(request.begin(), request.end() - 4);
    const std::vector<std::vector<std::uint8_t>> ignored = {
        message(stun::Type::binding_success, 1),
        message(stun::Type::binding_error, 2),
        {'h', 'e', 'l', 'l', 'o'},
        std::vector<std::uint8_t>(64, 0),
        truncated,
        std::vector<std::uint8_t>(1500, 0x42),
        {},
    };
    for (const auto& packet : ignored) {
        client.send_to(loopback(responder->port()), packet);
        client.send_to(loopback(responder->port() + 1), packet);
    }
    CHECK_FALSE(client.receive());
    // Still serving afterwards.
    client.send_to(loopback(responder->port()), request);
    CHECK(client.receive(std::chrono::seconds(2)));
}

TEST_CASE("stun: the pure answer matches only well-formed binding requests", "[stun]") {
    auto from = loopback(40000);
    CHECK_FALSE(stun_answer(message(stun::Type::binding_success, 1), from));
    CHECK_FALSE(stun_answer(message(stun::Type::binding_error, 1), from));
    CHECK_FALSE(stun_answer(std::vector<std::uint8_t>(20, 0), from));
    auto answer = stun_answer(message(stun::Type::binding_request, 3), from);
    REQUIRE(answer);
    auto decoded = stun::decode(*answer);
    REQUIRE(decoded);
    CHECK(decoded->type == stun::Type::binding_success);
    CHECK(decoded->mapped == from);
    CHECK(decoded->transaction[11] == 3);
}

TEST_CASE("security 9: the responder never answers with more bytes than it was sent", "[stun]") {
    stun::Message bare;  // 28 bytes: header and FINGERPRINT, as most STUN clients send
    bare.transaction.fill(5);
    auto small = stun::encode(bare);
    REQUIRE(small.size() < stun::kLargestBindingAnswer);
    CHECK_FALSE(stun_answer(small, loopback(40000)));
    auto v6 = mesh::kb::IpAddress::parse("2001:db8::1");
    for (const auto& from : {loopback(40000), Endpoint{v6, 40000}}) {
        auto request = message(stun::Type::binding_request, 6);
        auto answer = stun_answer(request, from);
        REQUIRE(answer);
        CHECK(answer->size() <= request.size());
    }
    // Over the wire: the unpadded request gets nothing, the padded one its answer.
    auto responder = start_responder();
    UdpClient client;
    client.send_to(loopback(responder->port()), small);
    CHECK_FALSE(client.receive());
    client.send_to(loopback(responder->port()), message(stun::Type::binding_request, 8));
    CHECK(client.receive(std::chrono::seconds(2)));
}

TEST_CASE("stun: a port in use is refused with an error naming it", "[stun]") {
    auto responder = start_responder();
    try {
        StunResponder second(loopback(responder->port()));
        FAIL("a second responder bound the same port");
    } catch (const mesh::Error& e) {
        CHECK_THAT(e.what(), Catch::Contains(loopback(responder->port()).to_string()));
        CHECK_THAT(e.what(), Catch::Contains("in use"));
    }
    // The second port taken is refused too: with Q held, a responder on Q - 1 cannot start.
    UdpClient holder;
    REQUIRE(holder.local.port > 1);
    try {
        StunResponder blocked(loopback(static_cast<std::uint16_t>(holder.local.port - 1)));
        FAIL("a responder started while its second port was taken");
    } catch (const mesh::Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("in use"));
    }
    CHECK_THROWS_AS(StunResponder(loopback(65535)), mesh::Error);
    Endpoint zero = loopback(1);
    zero.port = 0;
    CHECK_THROWS_AS(StunResponder(zero), mesh::Error);
}

TEST_CASE("stun: stop returns promptly and is idempotent", "[stun]") {
    auto responder = start_responder();
    auto start = std::chrono::steady_clock::now();
    responder->stop();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500));
    responder->stop();
    UdpClient client;
    client.send_to(loopback(responder->port()), message(stun::Type::binding_request, 1));
    CHECK_FALSE(client.receive());  // stopped: nobody answers
}

TEST_CASE("stun: on '::' IPv4 senders are answered with their IPv4 address", "[stun]") {
    std::string unbindable;
    auto responder = start_responder("[::]", unbindable);
    if (!responder) {
        WARN("no IPv6 here: " << unbindable);
        return;
    }
    UdpClient client;
    client.send_to(loopback(responder->port()), message(stun::Type::binding_request, 5));
    auto answer = client.receive(std::chrono::seconds(2));
    REQUIRE(answer);
    CHECK(answer->first == loopback(responder->port()));
    auto decoded = stun::decode(answer->second);
    REQUIRE(decoded);
    CHECK(decoded->mapped == client.local);
}

TEST_CASE("stun: IPv6 senders are answered with their IPv6 address", "[stun]") {
    UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in6 local{};
    local.sin6_family = AF_INET6;
    local.sin6_addr = in6addr_loopback;
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
        WARN("no IPv6 loopback here");
        return;
    }
    socklen_t size = sizeof local;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &size) == 0);
    std::string unbindable;
    auto responder = start_responder("[::]", unbindable);
    REQUIRE(responder);  // the IPv6 loopback bound above, so "[::]" binds too
    sockaddr_in6 to = local;
    to.sin6_port = htons(responder->port());
    auto request = message(stun::Type::binding_request, 6);
    REQUIRE(::sendto(fd.get(), request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof to) == static_cast<ssize_t>(request.size()));
    pollfd p{fd.get(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 2000) == 1);
    std::vector<std::uint8_t> buffer(2048);
    sockaddr_in6 from{};
    size = sizeof from;
    ssize_t n = ::recvfrom(fd.get(), buffer.data(), buffer.size(), 0,
                           reinterpret_cast<sockaddr*>(&from), &size);
    REQUIRE(n > 0);
    buffer.resize(static_cast<std::size_t>(n));
    CHECK(ntohs(from.sin6_port) == responder->port());
    auto decoded = stun::decode(buffer);
    REQUIRE(decoded);
    CHECK(decoded->mapped == Endpoint::parse("[::1]:" + std::to_string(ntohs(local.sin6_port))));
}
