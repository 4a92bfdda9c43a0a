// Benchmark: applying WireGuard configurations through our drivers vs wg(8), on one device, in
// one run. Prints a Markdown table of medians and their ratio.
//   apply_bench kernel IFACE [N] [ROUNDS]     (the kernel's WireGuard: run inside the VM)
//   apply_bench uapi IFACE [N] [ROUNDS]       (wireguard-go already running on IFACE)
// Rows: "full apply" = N peers (2 allowed IPs each) onto an empty device, ours vs `wg setconf`;
// "one change" = one peer's endpoint among N, ours (the agent's path for a map delta: reconcile
// the touched peer against the state it last applied, then apply the one-peer update) vs
// `wg syncconf` (which reads and compares the whole device).
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kmod-bridge/kernel_driver.hpp"
#include "kmod-bridge/reconcile.hpp"
#include "kmod-bridge/uapi_driver.hpp"

using namespace mesh::kb;
using Clock = std::chrono::steady_clock;

namespace {

Key key_for(std::uint32_t n, std::uint32_t salt) {
    std::uint32_t in[2] = {n, salt};
    Key k;
    crypto_generichash(k.bytes.data(), 32, reinterpret_cast<const unsigned char*>(in), sizeof in,
                       nullptr, 0);
    return k;
}

DeviceConfig make_config(std::uint32_t n, std::uint32_t salt) {
    DeviceConfig c;
    c.private_key = key_for(0xffffffff, salt);
    c.private_key->bytes[0] &= 248;
    c.private_key->bytes[31] = (c.private_key->bytes[31] & 127) | 64;
    c.listen_port = 51820;
    for (std::uint32_t i = 0; i < n; ++i) {
        PeerConfig p;
        p.public_key = key_for(i, salt);
        p.endpoint = Endpoint::parse("10.1." + std::to_string(i >> 8 & 0xff) + "." +
                                     std::to_string(i & 0xff) + ":51820");
        std::string base = std::to_string(i >> 8 & 0xff) + "." + std::to_string(i & 0xff);
        p.allowed_ips = {IpPrefix::parse("10.2." + base + "/32"),
                         IpPrefix::parse("10.3." + base + "/32")};
        c.peers.push_back(std::move(p));
    }
    return c;
}

std::string wg_conf(const DeviceConfig& c) {
    std::string s = "[Interface]\nPrivateKey = " + c.private_key->to_base64() +
                    "\nListenPort = " + std::to_string(*c.listen_port) + "\n";
    for (const auto& p : c.peers) {
        s += "\n[Peer]\nPublicKey = " + p.public_key.to_base64() +
             "\nEndpoint = " + p.endpoint->to_string() + "\nAllowedIPs = ";
        for (size_t i = 0; i < p.allowed_ips.size(); ++i) {
            s += (i ? ", " : "") + p.allowed_ips[i].to_string();
        }
        s += "\n";
    }
    return s;
}

double time_ms(const std::function<void()>& fn) {
    auto start = Clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void sh(const std::string& command) {
    if (std::system(command.c_str()) != 0) {
        std::fprintf(stderr, "apply_bench: '%s' failed\n", command.c_str());
        std::exit(1);
    }
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

DeviceState state_of(const DeviceConfig& c) {
    DeviceState s;
    s.private_key = c.private_key;
    s.listen_port = c.listen_port.value_or(0);
    for (const auto& p : c.peers) s.peers.push_back(PeerState{p, 0, 0, 0, 0});
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || (std::string(argv[1]) != "kernel" && std::string(argv[1]) != "uapi")) {
        std::fprintf(stderr, "usage: apply_bench kernel|uapi IFACE [N] [ROUNDS]\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    const std::string kind = argv[1], iface = argv[2];
    const std::uint32_t n = argc > 3 ? static_cast<std::uint32_t>(std::stoul(argv[3])) : 10000;
    const int rounds = argc > 4 ? std::stoi(argv[4]) : 3;
    std::unique_ptr<Driver> driver;
    if (kind == "kernel") {
        driver = std::make_unique<KernelDriver>(iface);
    } else {
        driver = std::make_unique<UapiDriver>(iface);
    }
    const std::string file = "/tmp/apply_bench_" + iface + ".conf";
    const auto empty = [&] { driver->apply(DeviceUpdate{{}, {}, true, {}}); };

    std::vector<double> ours_full, wg_full, ours_one, wg_one;
    for (int r = 0; r < rounds; ++r) {
        DeviceConfig config = make_config(n, static_cast<std::uint32_t>(r));
        std::ofstream(file) << wg_conf(config);
        empty();
        wg_full.push_back(time_ms([&] { sh("wg setconf " + iface + " " + file); }));
        empty();
        ours_full.push_back(time_ms([&] { driver->apply(reconcile(config, driver->get())); }));
        if (driver->get().peers.size() != n) {
            std::fprintf(stderr, "apply_bench: the device does not hold %u peers\n", n);
            return 1;
        }
        DeviceState last = state_of(config);  // what the agent knows it applied
        DeviceConfig changed = config;
        changed.peers[n / 2].endpoint = Endpoint::parse("192.0.2.1:" + std::to_string(1000 + r));
        const std::vector<Key> touched{changed.peers[n / 2].public_key};
        ours_one.push_back(
            time_ms([&] { driver->apply(reconcile_peers(changed, last, touched)); }));
        changed.peers[n / 2].endpoint = Endpoint::parse("192.0.2.2:" + std::to_string(1000 + r));
        std::ofstream(file) << wg_conf(changed);
        wg_one.push_back(time_ms([&] { sh("wg syncconf " + iface + " " + file); }));
    }
    std::remove(file.c_str());
    empty();
    std::printf("| %s, %u peers | ours (ms) | wg (ms) | ours / wg |\n|---|---:|---:|---:|\n",
                kind == "kernel" ? "kernel" : "wireguard-go", n);
    std::printf("| full apply (vs wg setconf) | %.1f | %.1f | %.2fx |\n", median(ours_full),
                median(wg_full), median(ours_full) / median(wg_full));
    std::printf("| one change (vs wg syncconf) | %.3f | %.1f | %.4fx |\n", median(ours_one),
                median(wg_one), median(ours_one) / median(wg_one));
    return 0;
}
