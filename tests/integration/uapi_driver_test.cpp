// The UAPI driver, the wireguard-go launcher and rtnl against a real wireguard-go. Needs root;
// run-privileged.sh runs this binary in fresh network, mount and PID namespaces with a private
// tmpfs on /var/run/wireguard, so nothing here touches the host.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

#include "kmod-bridge/reconcile.hpp"
#include "kmod-bridge/rtnl.hpp"
#include "kmod-bridge/uapi_driver.hpp"
#include "kmod-bridge/wireguard_go.hpp"

using namespace mesh::kb;
using namespace std::chrono_literals;

namespace {

// stdout of a shell command; fails the test if it does not exit 0.
std::string run(const std::string& command) {
    ::setenv("WG_COLOR_MODE", "never", 1);
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buf{};
    while (auto n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
    INFO(command << " printed: " << out);
    REQUIRE(::pclose(pipe) == 0);
    return out;
}

Key random_key() {
    Key k;
    randombytes_buf(k.bytes.data(), k.bytes.size());
    return k;
}

// A private key as `wg genkey` makes it: clamped, which wireguard-go does to whatever it is given.
Key private_key() {
    Key k = random_key();
    k.bytes[0] &= 248;
    k.bytes[31] = static_cast<std::uint8_t>((k.bytes[31] & 127) | 64);
    return k;
}

Key public_of(const Key& private_key) {
    Key pub;
    crypto_scalarmult_base(pub.bytes.data(), private_key.bytes.data());
    return pub;
}

PeerConfig peer(const Key& key, std::optional<std::string> endpoint,
                std::vector<std::string> allowed, std::uint16_t keepalive = 0) {
    PeerConfig p;
    p.public_key = key;
    if (endpoint) p.endpoint = Endpoint::parse(*endpoint);
    for (const auto& a : allowed) p.allowed_ips.push_back(IpPrefix::parse(a));
    p.persistent_keepalive = keepalive;
    return p;
}

// The configured part of a device state, in a canonical order (wireguard-go returns peers in
// Go map order, which changes from one get to the next).
std::map<Key, PeerConfig> configs_of(const DeviceState& state) {
    std::map<Key, PeerConfig> out;
    for (auto p : state.peers) {
        std::sort(p.config.allowed_ips.begin(), p.config.allowed_ips.end());
        out.emplace(p.config.public_key, p.config);
    }
    return out;
}

std::map<Key, PeerConfig> configs_of(const DeviceConfig& config) {
    DeviceState s;
    for (const auto& p : config.peers) s.peers.push_back(PeerState{p});
    return configs_of(s);
}

const PeerState& find_peer(const DeviceState& state, const Key& key) {
    auto it = std::find_if(state.peers.begin(), state.peers.end(),
                           [&](const PeerState& p) { return p.config.public_key == key; });
    REQUIRE(it != state.peers.end());
    return *it;
}

// `wg show IF dump` rendered the way the state should make it look: one line per peer, sorted.
std::string expected_dump_peers(const DeviceState& state) {
    std::vector<std::string> lines;
    for (const auto& p : state.peers) {
        std::ostringstream line;
        auto ips = p.config.allowed_ips;
        std::string joined;
        for (const auto& ip : ips) joined += (joined.empty() ? "" : ",") + ip.to_string();
        line << p.config.public_key.to_base64() << "\t(none)\t"
             << (p.config.endpoint ? p.config.endpoint->to_string() : "(none)") << "\t"
             << (joined.empty() ? "(none)" : joined) << "\t" << p.last_handshake_sec << "\t"
             << p.rx_bytes << "\t" << p.tx_bytes << "\t"
             << (p.config.persistent_keepalive ? std::to_string(p.config.persistent_keepalive)
                                               : "off");
        lines.push_back(line.str());
    }
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

std::string sorted_lines(const std::string& text, std::size_t skip) {
    std::istringstream in(text);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    lines.erase(lines.begin(), lines.begin() + static_cast<long>(std::min(skip, lines.size())));
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

WireguardGo start(const std::string& name) {
    WireguardGo::Options options;
    options.log_level = "error";
    return WireguardGo(name, options);
}

}  // namespace

TEST_CASE("UapiDriver applies a config to wireguard-go, reads it back, and reconciles it") {
    REQUIRE(sodium_init() >= 0);
    WireguardGo wg = start("wgt0");
    UapiDriver driver("wgt0");
    const Key k1 = random_key(), k2 = random_key(), k3 = random_key(), k4 = random_key();

    DeviceConfig desired;
    desired.private_key = private_key();
    desired.listen_port = 51820;
    // Peer 1 has an endpoint and a keepalive, so wireguard-go sends it a handshake initiation at
    // once: its tx_bytes then show whether a later update re-created it.
    desired.peers = {
        peer(k1, "127.0.0.1:51901", {"100.64.0.1/32", "fd00:64::1/128"}, 25),
        peer(k2, "[::1]:51902", {"100.64.0.2/32", "10.2.0.0/16"}),
        peer(k3, std::nullopt, {"100.64.0.3/32"}, 25),
    };
    auto first = reconcile(desired, driver.get());
    CHECK(first.peers.size() == 3);
    driver.apply(first);

    auto state = driver.get();
    CHECK(state.private_key == desired.private_key);
    CHECK(state.listen_port == 51820);
    CHECK(configs_of(state) == configs_of(desired));
    CHECK(reconcile(desired, state).empty());

    SECTION("wg show agrees") {
        auto dump = run("wg show wgt0 dump");
        auto header = dump.substr(0, dump.find('\n'));
        CHECK(header == desired.private_key->to_base64() + "\t" +
                            public_of(*desired.private_key).to_base64() + "\t51820\toff");
        state = driver.get();  // counters move; take them as close to the dump as possible
        CHECK(sorted_lines(dump, 1) == expected_dump_peers(state));
    }

    SECTION("a reconcile touches only the peers that changed") {
        std::this_thread::sleep_for(200ms);
        auto before = find_peer(driver.get(), k1);
        REQUIRE(before.tx_bytes > 0);  // its handshake initiation

        DeviceConfig next = desired;
        next.peers = {desired.peers[0],
                      peer(k2, "[::1]:51999", {"100.64.0.2/32"}),       // endpoint and IPs changed
                      peer(k4, "127.0.0.1:51904", {"100.64.0.4/32"})};  // added; k3 removed
        auto update = reconcile(next, driver.get());
        CHECK(update.peers.size() == 3);
        for (const auto& u : update.peers) CHECK(u.public_key != k1);
        driver.apply(update);

        auto after = driver.get();
        CHECK(configs_of(after) == configs_of(next));
        CHECK(reconcile(next, after).empty());
        CHECK(find_peer(after, k1).tx_bytes >= before.tx_bytes);  // a new peer starts at 0
        CHECK(find_peer(after, k1).config == before.config);
    }
}

TEST_CASE("UapiDriver reports what wireguard-go refuses") {
    WireguardGo a = start("wgt0");
    WireguardGo b = start("wgt3");
    DeviceUpdate port;
    port.listen_port = 51820;
    UapiDriver("wgt0").apply(port);
    // The same port on a second device of the same namespace: wireguard-go cannot bind it.
    CHECK_THROWS_WITH(UapiDriver("wgt3").apply(port),
                      Catch::Contains("/var/run/wireguard/wgt3.sock") &&
                          Catch::Contains("errno=-98") && Catch::Contains("in use"));

    UapiDriver absent("nosuch0");
    CHECK_THROWS_WITH(absent.get(), Catch::Contains("/var/run/wireguard/nosuch0.sock") &&
                                        Catch::Contains("is wireguard-go running"));
}

TEST_CASE("Rtnl sets up the wireguard-go interface") {
    WireguardGo wg = start("wgt1");
    Rtnl rtnl;
    CHECK(rtnl.link_index("wgt1") > 0);
    CHECK(rtnl.link_index("nosuch0") == 0);

    const auto v4 = IpPrefix::parse("100.64.0.5/10", true);
    const auto v6 = IpPrefix::parse("fd00:64::5/64", true);
    rtnl.set_mtu("wgt1", 1380);
    rtnl.add_address("wgt1", v4);
    rtnl.add_address("wgt1", v4);  // idempotent
    rtnl.add_address("wgt1", v6);
    rtnl.set_link_up("wgt1");
    rtnl.add_route(IpPrefix::parse("10.99.0.0/16"), "wgt1");
    rtnl.add_route(IpPrefix::parse("10.99.0.0/16"), "wgt1");  // idempotent
    rtnl.add_route(IpPrefix::parse("fd00:99::/32"), "wgt1");
    rtnl.add_route(IpPrefix::parse("100.64.0.0/10"), "wgt1");  // the kernel's own: EEXIST is fine

    auto link = run("ip -o link show wgt1");
    CHECK_THAT(link, Catch::Contains("mtu 1380") && Catch::Contains(",UP"));
    auto addrs = run("ip -o addr show dev wgt1");
    CHECK_THAT(addrs,
               Catch::Contains("inet 100.64.0.5/10") && Catch::Contains("inet6 fd00:64::5/64"));
    CHECK_THAT(run("ip route show dev wgt1"), Catch::Contains("10.99.0.0/16 scope link"));
    CHECK_THAT(run("ip -6 route show dev wgt1"), Catch::Contains("fd00:99::/32"));
    auto mine = rtnl.addresses("wgt1");
    CHECK(std::count(mine.begin(), mine.end(), v4) == 1);
    CHECK(std::count(mine.begin(), mine.end(), v6) == 1);

    rtnl.del_route(IpPrefix::parse("10.99.0.0/16"), "wgt1");
    rtnl.del_route(IpPrefix::parse("10.99.0.0/16"), "wgt1");  // idempotent
    rtnl.del_address("wgt1", v4);
    rtnl.del_address("wgt1", v4);  // idempotent
    CHECK_THAT(run("ip route show dev wgt1"), !Catch::Contains("10.99.0.0/16"));
    CHECK_THAT(run("ip -o addr show dev wgt1"), !Catch::Contains("100.64.0.5"));
    mine = rtnl.addresses("wgt1");
    CHECK(std::count(mine.begin(), mine.end(), v4) == 0);

    CHECK_THROWS_WITH(rtnl.set_mtu("nosuch0", 1400), Catch::Contains("nosuch0"));
    CHECK_THROWS_WITH(rtnl.add_address("nosuch0", v4),
                      Catch::Contains("there is no interface named nosuch0"));
    CHECK_THROWS_WITH(rtnl.set_mtu("wgt1", 10), Catch::Contains("Invalid argument"));
}

TEST_CASE("Rtnl deletes links, idempotently") {
    run("ip link add kbv0 type veth peer name kbv1");
    Rtnl rtnl;
    REQUIRE(rtnl.link_index("kbv1") > 0);
    rtnl.delete_link("kbv0");
    CHECK(rtnl.link_index("kbv0") == 0);
    CHECK(rtnl.link_index("kbv1") == 0);  // a veth goes with its peer
    rtnl.delete_link("kbv0");
}

TEST_CASE("stopping wireguard-go removes its interface and socket") {
    WireguardGo wg = start("wgt2");
    Rtnl rtnl;
    REQUIRE(rtnl.link_index("wgt2") > 0);
    CHECK(wg.alive());
    wg.stop();
    CHECK_FALSE(wg.alive());
    CHECK(rtnl.link_index("wgt2") == 0);
    CHECK_THROWS_WITH(UapiDriver("wgt2").get(), Catch::Contains("is wireguard-go running"));
}
