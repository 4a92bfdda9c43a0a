// The driver behaviours, against a real device: the kernel's WireGuard (inside the kernel VM,
// tests/kernel/run-in-vm.sh) or, with MESH_TEST_DRIVER=uapi, wireguard-go (on this machine, in
// fresh namespaces through tests/integration/run-privileged.sh). The same cases run on both.
#include <sodium.h>
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "kmod-bridge/kernel_driver.hpp"
#include "kmod-bridge/reconcile.hpp"
#include "kmod-bridge/rtnl.hpp"
#include "kmod-bridge/uapi_driver.hpp"
#include "kmod-bridge/wireguard_go.hpp"

using namespace mesh::kb;

namespace {

// Runs a shell command; returns its stdout. Fails the test on a non-zero exit.
std::string run(const std::string& command) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen((command + " 2>&1").c_str(), "r"), ::pclose);
    REQUIRE(pipe);
    std::array<char, 4096> buf;
    while (std::fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
    int status = ::pclose(pipe.release());
    INFO(command << "\n" << out);
    REQUIRE(status == 0);
    return out;
}

Key private_key() {
    Key k;
    randombytes_buf(k.bytes.data(), 32);
    k.bytes[0] &= 248;
    k.bytes[31] = (k.bytes[31] & 127) | 64;
    return k;
}

Key public_of(const Key& priv) {
    Key pub;
    crypto_scalarmult_base(pub.bytes.data(), priv.bytes.data());
    return pub;
}

// The same key for the same n (a peer's identity across calls), distinct for distinct n.
Key numbered(std::uint32_t n) {
    Key k;
    crypto_generichash(k.bytes.data(), k.bytes.size(), reinterpret_cast<const unsigned char*>(&n),
                       sizeof n, nullptr, 0);
    return k;
}

bool use_uapi() {
    const char* driver = std::getenv("MESH_TEST_DRIVER");
    return driver && std::string(driver) == "uapi";
}

// A fresh WireGuard device of the driver under test, gone again at the end of the test.
struct Device {
    std::string name;
    std::unique_ptr<WireguardGo> process;
    explicit Device(std::string n) : name(std::move(n)) {
        Rtnl().delete_link(name);
        if (use_uapi()) {
            process = std::make_unique<WireguardGo>(name);
        } else {
            REQUIRE(create_kernel_device(name));
        }
    }
    ~Device() {
        process.reset();
        Rtnl().delete_link(name);
    }
    std::unique_ptr<Driver> driver() const {
        if (use_uapi()) return std::make_unique<UapiDriver>(name);
        return std::make_unique<KernelDriver>(name);
    }
};

PeerConfig peer(std::uint32_t n, int ips) {
    PeerConfig p;
    p.public_key = numbered(n);
    p.endpoint = Endpoint::parse("192.0.2." + std::to_string(n % 250 + 1) + ":" +
                                 std::to_string(1000 + n % 60000));
    for (int i = 0; i < ips; ++i) {
        p.allowed_ips.push_back(IpPrefix::parse("10." + std::to_string(n >> 8 & 0xff) + "." +
                                                std::to_string(n & 0xff) + "." +
                                                std::to_string(i * 4) + "/30"));
    }
    return p;
}

DeviceConfig sorted(DeviceConfig c) {
    for (auto& p : c.peers) std::sort(p.allowed_ips.begin(), p.allowed_ips.end());
    std::sort(c.peers.begin(), c.peers.end(),
              [](const PeerConfig& a, const PeerConfig& b) { return a.public_key < b.public_key; });
    return c;
}

DeviceConfig config_of(const DeviceState& s) {
    DeviceConfig c;
    c.private_key = s.private_key;
    c.listen_port = s.listen_port;
    for (const auto& p : s.peers) c.peers.push_back(p.config);
    return sorted(c);
}

void apply(Driver& d, const DeviceConfig& want) {
    d.apply(reconcile(want, d.get()));
}

}  // namespace

TEST_CASE("driver: a configuration reads back identical, and wg agrees") {
    REQUIRE(sodium_init() >= 0);
    Device dev("kwg0");
    auto owned = dev.driver();
    Driver& driver = *owned;
    DeviceConfig want;
    want.private_key = private_key();
    want.listen_port = 51820;
    want.peers = {peer(1, 2), peer(2, 1), peer(3, 3)};
    want.peers[1].persistent_keepalive = 25;
    apply(driver, want);
    CHECK(config_of(driver.get()) == sorted(want));
    CHECK(reconcile(want, driver.get()).empty());  // the second apply would send nothing

    auto dump = run("WG_COLOR_MODE=never wg show " + dev.name + " dump");
    for (const auto& p : want.peers) {
        CHECK(dump.find(p.public_key.to_base64() + "\t(none)\t" + p.endpoint->to_string()) !=
              std::string::npos);
    }
}

TEST_CASE("driver: what wg setconf wrote is what the driver reads, and back") {
    Device dev("kwg1");
    auto owned = dev.driver();
    Driver& driver = *owned;
    DeviceConfig want;
    want.private_key = private_key();
    want.listen_port = 40000;
    want.peers = {peer(7, 2), peer(8, 1)};
    apply(driver, want);
    auto conf = run("WG_COLOR_MODE=never wg showconf " + dev.name);
    CHECK(conf.find("PrivateKey = " + want.private_key->to_base64()) != std::string::npos);
    CHECK(conf.find("ListenPort = 40000") != std::string::npos);

    run("wg set " + dev.name + " peer " + peer(9, 1).public_key.to_base64() +
        " endpoint 198.51.100.9:9 allowed-ips 10.99.0.0/16,fd00::/64 persistent-keepalive 7");
    auto state = driver.get();
    REQUIRE(state.peers.size() == 3);
    auto it = std::find_if(state.peers.begin(), state.peers.end(), [](const PeerState& p) {
        return p.config.public_key == peer(9, 1).public_key;
    });
    REQUIRE(it != state.peers.end());
    CHECK(it->config.endpoint->to_string() == "198.51.100.9:9");
    CHECK(it->config.persistent_keepalive == 7);
    CHECK(sorted(DeviceConfig{{}, {}, {it->config}}).peers[0].allowed_ips ==
          std::vector<IpPrefix>{IpPrefix::parse("10.99.0.0/16"), IpPrefix::parse("fd00::/64")});
}

TEST_CASE("driver: 10,000 peers with 2 allowed IPs each are written and read back identical") {
    Device dev("kwg2");
    auto owned = dev.driver();
    Driver& driver = *owned;
    DeviceConfig want;
    want.private_key = private_key();
    for (std::uint32_t n = 0; n < 10000; ++n) want.peers.push_back(peer(n, 2));
    apply(driver, want);
    auto got = config_of(driver.get());
    REQUIRE(got.peers.size() == 10000);
    CHECK(got.peers == sorted(want).peers);
    CHECK(run("WG_COLOR_MODE=never wg show " + dev.name + " peers | wc -l") == "10000\n");
}

TEST_CASE("driver: removing one peer while adding another leaves the rest untouched") {
    Device dev("kwg3");
    auto owned = dev.driver();
    Driver& driver = *owned;
    DeviceConfig want;
    want.private_key = private_key();
    want.peers = {peer(1, 1), peer(2, 1), peer(3, 1)};
    apply(driver, want);
    want.peers.erase(want.peers.begin() + 1);
    want.peers.push_back(peer(4, 2));
    want.peers[0].endpoint = Endpoint::parse("203.0.113.1:1");  // one changed field
    auto update = reconcile(want, driver.get());
    REQUIRE(update.peers.size() == 3);  // remove 2, add 4, change 1's endpoint; 3 not listed
    driver.apply(update);
    CHECK(config_of(driver.get()).peers == sorted(want).peers);
}

TEST_CASE("driver: a peer with a low-order public key never produces traffic") {
    Device dev("kwg4");
    auto owned = dev.driver();
    Driver& driver = *owned;
    DeviceConfig want;
    want.private_key = private_key();
    PeerConfig bad;  // the all-zero key is a low-order point: no shared secret can be derived
    bad.endpoint = Endpoint::parse("127.0.0.1:9");
    bad.allowed_ips = {IpPrefix::parse("10.250.0.0/24")};
    bad.persistent_keepalive = 1;
    want.peers = {bad};
    apply(driver, want);
    run("ip addr add 10.250.1.1/16 dev " + dev.name + " && ip link set " + dev.name + " up");
    std::system(("ping -c 3 -i 0.2 -W 1 10.250.0.2 >/dev/null 2>&1"));
    auto state = driver.get();
    REQUIRE(state.peers.size() == 1);
    CHECK(state.peers[0].tx_bytes == 0);
    CHECK(state.peers[0].last_handshake_sec == 0);
}

TEST_CASE(
    "kernel: two interfaces handshake; changing a neighbour leaves the session alone; "
    "roaming shows in GET") {
    // A in this namespace, B moved into namespace "kb"; both UDP sockets stay here (a WireGuard
    // socket lives where its interface was created), talking over 127.0.0.1.
    run("ip netns del kb 2>/dev/null; ip netns add kb && ip link set lo up");
    Device a("kwga");
    Device b("kwgb");
    auto owned_a = a.driver(), owned_b = b.driver();
    Driver &da = *owned_a, &db = *owned_b;
    Key ka = private_key(), kb_ = private_key();
    DeviceConfig ca, cb;
    ca.private_key = ka;
    ca.listen_port = 52001;
    cb.private_key = kb_;
    cb.listen_port = 52002;
    PeerConfig to_b{
        public_of(kb_), Endpoint::parse("127.0.0.1:52002"), {IpPrefix::parse("10.201.0.2/32")}, 0};
    PeerConfig to_a{
        public_of(ka), Endpoint::parse("127.0.0.1:52001"), {IpPrefix::parse("10.201.0.1/32")}, 0};
    ca.peers = {to_b};
    cb.peers = {to_a};
    apply(da, ca);
    apply(db, cb);
    run("ip link set kwgb netns kb && ip -n kb addr add 10.201.0.2/24 dev kwgb && "
        "ip -n kb link set kwgb up && ip addr add 10.201.0.1/24 dev kwga && ip link set kwga up");
    run("ping -c 2 -W 2 10.201.0.2");
    auto before = da.get().peers.at(0);
    CHECK(before.last_handshake_sec != 0);
    CHECK(before.rx_bytes > 0);

    // A neighbour peer comes, changes and goes; the A-B session must not be reset.
    ca.peers.push_back(peer(42, 1));
    apply(da, ca);
    ca.peers.back().endpoint = Endpoint::parse("198.51.100.1:1");
    apply(da, ca);
    ca.peers.pop_back();
    apply(da, ca);
    auto after = da.get();
    REQUIRE(after.peers.size() == 1);
    CHECK(after.peers[0].last_handshake_sec == before.last_handshake_sec);
    CHECK(after.peers[0].last_handshake_nsec == before.last_handshake_nsec);
    CHECK(after.peers[0].rx_bytes >= before.rx_bytes);

    // B moves to another port: A learns the new endpoint from B's authenticated packets.
    run("wg set kwgb listen-port 52999 2>/dev/null || ip netns exec kb wg set kwgb listen-port "
        "52999");
    run("ip netns exec kb ping -c 2 -W 2 10.201.0.1");
    CHECK(da.get().peers.at(0).config.endpoint->to_string() == "127.0.0.1:52999");
    run("ip netns del kb");
}
