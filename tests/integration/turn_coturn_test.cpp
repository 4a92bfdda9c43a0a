// The TURN codec against a real TURN server: coturn (Debian's turnserver) on loopback with
// use-auth-secret, as a coordinator would configure it. Allocation with TURN REST credentials
// (the 401 and its nonce first), permissions, a peer sending to the relayed address from a plain
// UDP socket (as a peer's WireGuard port would), Data indications, ChannelBind and ChannelData
// both ways, a sender without permission dropped, wrong credentials refused, deallocation.
// With MESH_TURN_CAPTURE_DIR set, every message coturn sent is written there (seeds for
// tests/fuzz/corpus/turn).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/relay_allocation.hpp"
#include "agent/relay_proxy.hpp"
#include "kmod-bridge/turn_codec.hpp"
#include "proto/tls_pin.hpp"

using namespace mesh::kb;
using namespace mesh::kb::turn;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "lab-secret-0123456789";
const std::string kRealm = "mesh";

class Udp {
  public:
    // On 127.0.0.1, or another loopback address (127.0.0.0/8 is all local on Linux).
    explicit Udp(const char* address = "127.0.0.1") {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        REQUIRE(::inet_pton(AF_INET, address, &a.sin_addr) == 1);
        // A burst's worth (the test reads after sending); beyond rmem_max only as root.
        const int buffer = 4 << 20;
        if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0) {
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
        }
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        address_ = address;
    }
    ~Udp() { ::close(fd_); }
    Udp(const Udp&) = delete;
    Udp& operator=(const Udp&) = delete;

    Endpoint local() const { return Endpoint::parse(address_ + ":" + std::to_string(port_)); }
    void send(const Endpoint& to, std::span<const std::uint8_t> bytes) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(to.port);
        std::memcpy(&a.sin_addr, to.address.bytes.data(), 4);
        REQUIRE(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a),
                         sizeof a) == static_cast<ssize_t>(bytes.size()));
    }
    // One datagram within `timeout`, with its source; nullopt when none came.
    std::optional<std::pair<std::vector<std::uint8_t>, Endpoint>> receive(
        std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        std::vector<std::uint8_t> buf(65536);
        sockaddr_in a{};
        socklen_t len = sizeof a;
        ssize_t n =
            ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&a), &len);
        if (n < 0) return std::nullopt;
        buf.resize(static_cast<std::size_t>(n));
        char text[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
        return std::make_pair(
            buf, Endpoint::parse(std::string(text) + ":" + std::to_string(ntohs(a.sin_port))));
    }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::string address_;
};

void capture(const std::vector<std::uint8_t>& bytes) {
    static int n = 0;
    const char* dir = std::getenv("MESH_TURN_CAPTURE_DIR");
    if (!dir) return;
    std::filesystem::create_directories(dir);
    std::ofstream(std::string(dir) + "/coturn-" + std::to_string(++n), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
}

// coturn on 127.0.0.1:PORT, stopped (by its PID) when this goes.
// coturn on loopback: UDP and TCP on port(), and TLS on tls_port() with a self-signed
// certificate made here (its fingerprint: tls_fingerprint()).
class Coturn {
  public:
    Coturn() {
        dir_ = std::filesystem::temp_directory_path() / ("turn-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        Udp probe, tls_probe;  // free ports, most likely still free a moment later
        port_ = probe.local().port;
        tls_port_ = tls_probe.local().port;
        const auto cert = dir_ / "cert.pem", key = dir_ / "key.pem";
        const std::string make_cert =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
            "-subj /CN=turn.test -keyout " +
            key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
        REQUIRE(std::system(make_cert.c_str()) == 0);
        std::ifstream pem(cert);
        tls_fingerprint_ =
            mesh::tls::fingerprint_of_pem(std::string(std::istreambuf_iterator<char>(pem), {}));
        const auto conf = dir_ / "turnserver.conf";
        std::ofstream(conf) << "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port="
                            << port_ << "\ntls-listening-port=" << tls_port_
                            << "\ncert=" << cert.string() << "\npkey=" << key.string()
                            << "\nmin-port=49152\nmax-port=65535\nuse-auth-secret\n"
                            << "static-auth-secret=" << kSecret << "\nrealm=" << kRealm
                            << "\nallow-loopback-peers\nno-dtls\nno-cli\nfingerprint\n"
                            << "no-software-attribute\nlog-file=stdout\nsimple-log\npidfile="
                            << (dir_ / "turnserver.pid").string() << "\n";
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            std::string log = (dir_ / "coturn.log").string();
            FILE* out = std::freopen(log.c_str(), "w", stdout);
            (void)out;
            ::dup2(STDOUT_FILENO, STDERR_FILENO);
            ::execlp("turnserver", "turnserver", "-c", conf.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    ~Coturn() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            for (int i = 0; i < 50 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) {
                std::this_thread::sleep_for(20ms);
            }
            if (::waitpid(pid_, nullptr, WNOHANG) == 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
            }
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    Endpoint address() const { return Endpoint::parse("127.0.0.1:" + std::to_string(port_)); }
    Endpoint tls_address() const {
        return Endpoint::parse("127.0.0.1:" + std::to_string(tls_port_));
    }
    const std::string& tls_fingerprint() const { return tls_fingerprint_; }
    // Until the TLS port takes connections (coturn opens it a moment after UDP).
    bool tls_listening() const {
        for (int i = 0; i < 100; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(tls_port_);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(fd);
            if (ok) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }
    std::string log() const {
        std::ifstream in(dir_ / "coturn.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

  private:
    std::filesystem::path dir_;
    std::uint16_t port_ = 0, tls_port_ = 0;
    std::string tls_fingerprint_;
    pid_t pid_ = -1;
};

// A TURN client over one UDP socket, just enough for the test: each request is sent until an
// answer with its transaction id comes (coturn answers on loopback in microseconds).
class Client {
  public:
    Client(const Endpoint& server, RestCredential credential)
        : server_(server), credential_(std::move(credential)) {}

    Udp& socket() { return socket_; }

    Message transact(Message request, bool authenticate = true) {
        request.transaction = new_transaction();
        for (int attempt = 0; attempt < 3; ++attempt) {
            std::vector<std::uint8_t> bytes;
            if (authenticate && nonce_) {
                request.username = credential_.username;
                request.realm = kRealm;
                request.nonce = nonce_;
                auto key = long_term_key(credential_.username, kRealm, credential_.password);
                bytes = encode(request, &key);
            } else {
                bytes = encode(request);
            }
            socket_.send(server_, bytes);
            auto answer = await(request.transaction);
            REQUIRE(answer);
            if (answer->cls == Class::error &&
                (answer->error_code == 401 || answer->error_code == 438) && answer->nonce &&
                authenticate && attempt == 0) {
                nonce_ = answer->nonce;  // the challenge: send again, signed
                continue;
            }
            return *answer;
        }
        FAIL("no answer after a fresh nonce");
        return {};
    }

    // The next STUN message from the server for `transaction` (other datagrams are kept).
    std::optional<Message> await(const TransactionId& transaction,
                                 std::chrono::milliseconds limit = 2000ms) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            auto got = socket_.receive(50ms);
            if (!got) continue;
            capture(got->first);
            auto m = decode(got->first);
            if (m && m->transaction == transaction) {
                if (m->integrity_offset) {
                    auto key = long_term_key(credential_.username, kRealm, credential_.password);
                    CHECK(verify_integrity(got->first, *m, key));
                }
                return m;
            }
            backlog_.push_back(got->first);
        }
        return std::nullopt;
    }

    // The next datagram from the server that is not an answer (an indication or ChannelData).
    std::optional<std::vector<std::uint8_t>> next_from_server(std::chrono::milliseconds timeout) {
        if (!backlog_.empty()) {
            auto b = backlog_.front();
            backlog_.erase(backlog_.begin());
            return b;
        }
        auto got = socket_.receive(timeout);
        if (!got) return std::nullopt;
        capture(got->first);
        return got->first;
    }

  private:
    Udp socket_;
    Endpoint server_;
    RestCredential credential_;
    std::optional<std::string> nonce_;
    std::vector<std::vector<std::uint8_t>> backlog_;
};

std::int64_t in_an_hour() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           3600;
}

// What came when nothing should have, for the failure message.
std::string describe(const std::optional<std::vector<std::uint8_t>>& got) {
    if (!got) return "nothing";
    if (auto m = decode(*got)) {
        return "STUN method " + std::to_string(static_cast<int>(m->method)) + " class " +
               std::to_string(static_cast<int>(m->cls)) + " error " +
               std::to_string(m->error_code) + " peers " + std::to_string(m->peers.size()) +
               " data " + std::to_string(m->data ? m->data->size() : 0);
    }
    if (auto c = decode_channel_data(*got)) {
        return "ChannelData " + std::to_string(c->channel) + " of " +
               std::to_string(c->data.size());
    }
    return std::to_string(got->size()) + " other bytes";
}

// coturn takes a moment to listen: Binding requests (up to 50 of 200 ms) until one is answered.
bool answers_binding(Client& client, const Endpoint& server) {
    for (int i = 0; i < 50; ++i) {
        Message binding;
        binding.method = Method::binding;
        binding.transaction = new_transaction();
        client.socket().send(server, encode(binding));
        if (client.await(binding.transaction, 200ms)) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("TURN against coturn: allocate, permit, Data indications, channels, refresh") {
    Coturn server;
    Client a(server.address(), rest_credential(kSecret, in_an_hour(), "n-a"));
    Udp b;  // a peer sending from its own (WireGuard) port, with no allocation of its own
    // Permissions are per IP address (RFC 8656 section 9): a stranger needs another address.
    // (One on the peer's address but another port passes the server: the agent's proxy checks
    // the port itself.)
    Udp stranger("127.0.0.2");

    INFO(server.log());
    REQUIRE(answers_binding(a, server.address()));

    // Allocate: a 401 with realm and nonce first, then the allocation with the REST credential.
    Message allocate;
    allocate.method = Method::allocate;
    allocate.requested_transport = kTransportUdp;
    auto first = a.transact(allocate, /*authenticate=*/false);
    CHECK(first.cls == Class::error);
    CHECK(first.error_code == 401);
    CHECK(first.realm == kRealm);
    REQUIRE(first.nonce);
    auto allocated = a.transact(allocate);
    REQUIRE(allocated.cls == Class::success);
    REQUIRE(allocated.relayed);
    CHECK(allocated.relayed->address == IpAddress::parse("127.0.0.1"));
    CHECK(allocated.mapped == a.socket().local());
    CHECK(allocated.lifetime.value_or(0) > 0);
    const Endpoint relayed = *allocated.relayed;

    // Before a permission, b's datagrams to the relayed address are dropped.
    std::vector<std::uint8_t> hello = {'w', 'g', 1, 2, 3};
    b.send(relayed, hello);
    CHECK_FALSE(a.next_from_server(300ms));

    Message permit;
    permit.method = Method::create_permission;
    permit.peers = {b.local()};
    CHECK(a.transact(permit).cls == Class::success);

    // Now they arrive, as Data indications naming b.
    b.send(relayed, hello);
    auto indication = a.next_from_server(1s);
    REQUIRE(indication);
    auto data = decode(*indication);
    REQUIRE(data);
    CHECK(data->method == Method::data);
    CHECK(data->cls == Class::indication);
    CHECK(data->peers == std::vector{b.local()});
    CHECK(data->data == hello);

    // A Send indication reaches b from the relayed address.
    Message send;
    send.method = Method::send;
    send.cls = Class::indication;
    send.transaction = new_transaction();
    send.peers = {b.local()};
    send.data = std::vector<std::uint8_t>{'b', 'a', 'c', 'k'};
    a.socket().send(server.address(), encode(send));
    auto at_b = b.receive(1s);
    REQUIRE(at_b);
    CHECK(at_b->second == relayed);
    CHECK(at_b->first == *send.data);

    // A stranger without a permission is still dropped.
    stranger.send(relayed, hello);
    auto from_stranger = a.next_from_server(300ms);
    INFO(describe(from_stranger));
    CHECK_FALSE(from_stranger);

    // A channel to b: its datagrams now come as ChannelData, and ours go out the same way.
    Message bind;
    bind.method = Method::channel_bind;
    bind.channel = 0x4001;
    bind.peers = {b.local()};
    CHECK(a.transact(bind).cls == Class::success);
    std::vector<std::uint8_t> big(1400, 0x5a);  // a WireGuard data packet's size
    b.send(relayed, big);
    auto framed = a.next_from_server(1s);
    REQUIRE(framed);
    auto channel_data = decode_channel_data(*framed);
    REQUIRE(channel_data);
    CHECK(channel_data->channel == 0x4001);
    CHECK(std::vector(channel_data->data.begin(), channel_data->data.end()) == big);
    std::vector<std::uint8_t> out;
    encode_channel_data(0x4001, big, out);
    a.socket().send(server.address(), out);
    at_b = b.receive(1s);
    REQUIRE(at_b);
    CHECK(at_b->second == relayed);
    CHECK(at_b->first == big);

    // Refresh keeps it; a lifetime of 0 deallocates, and b's datagrams then go nowhere.
    Message refresh;
    refresh.method = Method::refresh;
    refresh.lifetime = 600;
    auto refreshed = a.transact(refresh);
    CHECK(refreshed.cls == Class::success);
    CHECK(refreshed.lifetime.value_or(0) > 0);
    refresh.lifetime = 0;
    auto ended = a.transact(refresh);
    INFO("refresh(0): class " << static_cast<int>(ended.cls) << " error " << ended.error_code
                              << " lifetime " << ended.lifetime.value_or(99999));
    CHECK(ended.cls == Class::success);
    // Gone: the same 5-tuple may allocate again (an allocation still there would be 437
    // Allocation Mismatch), and gets a relayed address with no permissions or channels.
    // coturn frees it on a later timer tick (about a second here), not at once.
    Message again;
    for (int i = 0; i < 60; ++i) {
        again = a.transact(allocate);
        if (again.cls == Class::success) break;
        std::this_thread::sleep_for(100ms);
    }
    INFO("allocate again: error " << again.error_code);
    CHECK(again.cls == Class::success);
}

TEST_CASE("TURN against coturn: a wrong or expired REST credential is refused with 401") {
    Coturn server;
    Client wrong(server.address(), rest_credential("not-the-secret", in_an_hour(), "n-x"));
    REQUIRE(answers_binding(wrong, server.address()));
    Message allocate;
    allocate.method = Method::allocate;
    allocate.requested_transport = kTransportUdp;
    auto answer = wrong.transact(allocate);
    CHECK(answer.cls == Class::error);
    CHECK(answer.error_code == 401);

    Client expired(server.address(), rest_credential(kSecret, in_an_hour() - 7200, "n-y"));
    answer = expired.transact(allocate);
    CHECK(answer.cls == Class::error);
    CHECK(answer.error_code == 401);
}

namespace {

// Drives `allocation` over `socket` until `done` holds or 5 s pass; datagrams that are not
// answers (Data indications, ChannelData) go to `other`.
template <class Done>
void drive(mesh::agent::RelayAllocation& allocation, Udp& socket, Done done,
           const std::function<void(const std::vector<std::uint8_t>&)>& other = {}) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        auto now = mesh::agent::RelayAllocation::Clock::now();
        for (const auto& bytes : allocation.poll(now)) socket.send(allocation.server(), bytes);
        if (auto got = socket.receive(20ms)) {
            if (!allocation.receive(got->first, mesh::agent::RelayAllocation::Clock::now()) &&
                other) {
                other(got->first);
            }
        }
    }
}

mesh::agent::RelayCredential relay_credential(
    const Endpoint& server, const RestCredential& rest,
    mesh::agent::RelayTransportKind transport = mesh::agent::RelayTransportKind::udp,
    std::string fingerprint = "") {
    mesh::agent::RelayCredential c;
    c.server = server;
    c.username = rest.username;
    c.password = rest.password;
    c.transport = transport;
    c.tls_name = server.address.to_string();
    c.tls_fingerprint = std::move(fingerprint);
    return c;
}

}  // namespace

TEST_CASE("TURN against coturn: the agent's allocation state machine allocates and binds") {
    using mesh::agent::RelayAllocation;
    Coturn server;
    Client prober(server.address(), rest_credential(kSecret, in_an_hour(), "n-p"));
    REQUIRE(answers_binding(prober, server.address()));

    auto credential = rest_credential(kSecret, in_an_hour(), "n-a");
    Udp socket;
    RelayAllocation allocation(relay_credential(server.address(), credential),
                               RelayAllocation::Clock::now());
    drive(allocation, socket,
          [&] { return allocation.state() != RelayAllocation::State::allocating; });
    INFO(allocation.error());
    REQUIRE(allocation.state() == RelayAllocation::State::allocated);
    REQUIRE(allocation.relayed());
    CHECK(allocation.mapped() == socket.local());

    Udp peer;
    allocation.set_peers({peer.local()}, RelayAllocation::Clock::now());
    drive(allocation, socket, [&] { return allocation.channel_for(peer.local()).has_value(); });
    auto channel = allocation.channel_for(peer.local());
    REQUIRE(channel);
    CHECK(allocation.peer_for(*channel) == peer.local());

    std::vector<std::uint8_t> packet(148, 0x11);  // a WireGuard handshake initiation's size
    peer.send(*allocation.relayed(), packet);
    bool relayed = false;
    drive(
        allocation, socket, [&] { return relayed; },
        [&](const std::vector<std::uint8_t>& got) {
            auto frame = decode_channel_data(got);
            relayed |= frame && frame->channel == *channel &&
                       std::vector(frame->data.begin(), frame->data.end()) == packet;
        });
    CHECK(relayed);
}

TEST_CASE("TURN against coturn: refused credentials fail the allocation with a reason") {
    using mesh::agent::RelayAllocation;
    Coturn server;
    Client prober(server.address(), rest_credential(kSecret, in_an_hour(), "n-p"));
    REQUIRE(answers_binding(prober, server.address()));
    auto credential = rest_credential("not-the-secret", in_an_hour(), "n-a");
    Udp socket;
    RelayAllocation allocation(relay_credential(server.address(), credential),
                               RelayAllocation::Clock::now());
    drive(allocation, socket,
          [&] { return allocation.state() != RelayAllocation::State::allocating; });
    CHECK(allocation.state() == RelayAllocation::State::failed);
    CHECK(allocation.error().find("401") != std::string::npos);
    CHECK(allocation.error().find("refused") != std::string::npos);
}

namespace {

// Two relay proxies (a over `servers_a`, in order; b over UDP) carry a pair's packets both ways
// through coturn, bursts included, and only the device's.
void carry_pair(Coturn& server, const std::vector<mesh::agent::RelayCredential>& servers_a,
                const std::string& expect_server) {
    using mesh::agent::RelayAllocation;
    using mesh::agent::RelayProxy;
    Udp wg_a, wg_b;  // the two WireGuard ports
    std::atomic<int> changes{0};
    RelayProxy a(servers_a, wg_a.local().port, [&] { ++changes; });
    RelayProxy b(
        {relay_credential(server.address(), rest_credential(kSecret, in_an_hour(), "n-b"))},
        wg_b.local().port, [&] { ++changes; });
    a.start();
    b.start();
    auto allocated = [](RelayProxy& p) {
        for (int i = 0; i < 400 && p.status().state != RelayAllocation::State::allocated; ++i) {
            std::this_thread::sleep_for(20ms);
        }
        return p.status().state == RelayAllocation::State::allocated;
    };
    REQUIRE(allocated(a));
    INFO("a allocated via " << a.status().server);
    CHECK(a.status().server == expect_server);
    REQUIRE(allocated(b));
    CHECK(changes >= 2);
    auto relay_a = *a.status().relayed;
    auto relay_b = *b.status().relayed;
    auto local_a = a.set_peers({{"n-b", relay_b}});  // a's endpoint for b on its device
    auto local_b = b.set_peers({{"n-a", relay_a}});
    REQUIRE(local_a.contains("n-b"));
    REQUIRE(local_b.contains("n-a"));

    // Device a sends to its endpoint for b: device b receives it from its endpoint for a.
    std::vector<std::uint8_t> initiation(148, 0x01);
    bool through = false;
    for (int i = 0; i < 50 && !through; ++i) {  // permissions and channels take a moment
        wg_a.send(local_a["n-b"], initiation);
        if (auto got = wg_b.receive(50ms)) {
            through = got->first == initiation && got->second == local_b["n-a"];
        }
    }
    REQUIRE(through);
    std::vector<std::uint8_t> response(92, 0x02);
    wg_b.send(local_b["n-a"], response);
    auto back = wg_a.receive(1s);
    REQUIRE(back);
    CHECK(back->first == response);
    CHECK(back->second == local_a["n-b"]);

    // Bursts of full-size packets, as a TCP flow sends them: nearly all arrive (coturn's own
    // buffers may drop a few under a burst; the proxy's hold 4 MiB).
    std::vector<std::uint8_t> data(1420, 0x33);
    for (int i = 0; i < 200; ++i) {
        wg_a.send(local_a["n-b"], data);
        if (i % 20 == 19) std::this_thread::sleep_for(2ms);
    }
    int arrived = 0;
    while (auto got = wg_b.receive(200ms)) arrived += got->first == data;
    INFO("a sent " << a.status().packets_to_relay << ", b got " << b.status().packets_from_relay
                   << " (dropped " << b.status().dropped << "), device b got " << arrived);
    CHECK(arrived >= 190);
    CHECK(a.status().packets_to_relay >= 200u);
    CHECK(b.status().packets_from_relay >= 190u);

    // A datagram to a's loopback socket from anywhere but its device is not relayed.
    Udp intruder;
    auto before = a.status().packets_to_relay;
    intruder.send(local_a["n-b"], data);
    std::this_thread::sleep_for(100ms);
    CHECK(a.status().packets_to_relay == before);

    // Dropping the peer closes its socket.
    a.set_peers({});
    std::this_thread::sleep_for(100ms);
    wg_a.send(local_a["n-b"], data);
    CHECK_FALSE(wg_b.receive(300ms));
    a.stop();
    b.stop();
}

}  // namespace

TEST_CASE("TURN against coturn: two relay proxies carry a pair's packets both ways") {
    Coturn server;
    Client prober(server.address(), rest_credential(kSecret, in_an_hour(), "n-p"));
    REQUIRE(answers_binding(prober, server.address()));
    carry_pair(server,
               {relay_credential(server.address(), rest_credential(kSecret, in_an_hour(), "n-a"))},
               server.address().to_string());
}

TEST_CASE("TURN against coturn: a proxy over TCP carries a pair's packets with one over UDP") {
    Coturn server;
    Client prober(server.address(), rest_credential(kSecret, in_an_hour(), "n-p"));
    REQUIRE(answers_binding(prober, server.address()));
    carry_pair(server,
               {relay_credential(server.address(), rest_credential(kSecret, in_an_hour(), "n-a"),
                                 mesh::agent::RelayTransportKind::tcp)},
               server.address().to_string() + " over tcp");
}

TEST_CASE("TURN against coturn: a proxy over TLS (pinned certificate) carries a pair's packets") {
    Coturn server;
    Client prober(server.address(), rest_credential(kSecret, in_an_hour(), "n-p"));
    REQUIRE(answers_binding(prober, server.address()));
    REQUIRE(server.tls_listening());
    carry_pair(
        server,
        {relay_credential(server.tls_address(), rest_credential(kSecret, in_an_hour(), "n-a"),
                          mesh::agent::RelayTransportKind::tls, server.tls_fingerprint())},
        server.tls_address().to_string() + " over tls");
}

TEST_CASE("TURN against coturn: UDP that gets no answer falls over to TCP, then to TLS") {
    Coturn server;
    Client prober(server.address(), rest_credential(kSecret, in_an_hour(), "n-p"));
    REQUIRE(answers_binding(prober, server.address()));
    REQUIRE(server.tls_listening());
    Udp silent;  // a UDP port that never answers: as if UDP were dropped on the way
    auto rest = rest_credential(kSecret, in_an_hour(), "n-a");
    // A TCP port nobody listens on (refused at once), then TLS.
    Udp unused;
    const auto closed = Endpoint::parse("127.0.0.1:" + std::to_string(unused.local().port));
    const auto start = std::chrono::steady_clock::now();
    carry_pair(server,
               {relay_credential(silent.local(), rest),
                relay_credential(closed, rest, mesh::agent::RelayTransportKind::tcp),
                relay_credential(server.tls_address(), rest, mesh::agent::RelayTransportKind::tls,
                                 server.tls_fingerprint())},
               server.tls_address().to_string() + " over tls");
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < 8s);  // UDP gives up after 3.75 s when something follows it
}

TEST_CASE("TURN against coturn: a TLS certificate that is not the pinned one is refused") {
    using mesh::agent::RelayAllocation;
    using mesh::agent::RelayProxy;
    Coturn server;
    REQUIRE(server.tls_listening());
    Udp wg;
    RelayProxy a(
        {relay_credential(server.tls_address(), rest_credential(kSecret, in_an_hour(), "n-a"),
                          mesh::agent::RelayTransportKind::tls, "sha256:" + std::string(64, '0'))},
        wg.local().port, [] {});
    a.start();
    for (int i = 0; i < 100 && a.status().state != RelayAllocation::State::failed; ++i) {
        std::this_thread::sleep_for(20ms);
    }
    const auto status = a.status();
    INFO(status.error);
    CHECK(status.state == RelayAllocation::State::failed);
    CHECK(status.error.find("is not the pinned sha256:000") != std::string::npos);
    CHECK(status.error.find(server.tls_fingerprint()) != std::string::npos);
    a.stop();
}
