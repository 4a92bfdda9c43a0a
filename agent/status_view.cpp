#include "agent/status_view.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace mesh::agent {

namespace {

template <class Repeated>
std::string joined(const Repeated& values) {
    std::string out;
    for (const auto& v : values) out += (out.empty() ? "" : ",") + v;
    return out;
}

// "A, B (stream), C": the replicas, marking the one the stream is on; "" for a single one (the
// coordinator line says it all).
std::string replicas_line(const v1::StatusResponse& s) {
    if (s.coordinators_size() < 2) return "";
    std::string out;
    for (const auto& c : s.coordinators()) {
        out += (out.empty() ? "" : ", ") + c.address() + (c.current() ? " (stream)" : "");
    }
    return out;
}

bool pins_differ(const v1::StatusResponse& s) {
    for (const auto& c : s.coordinators()) {
        if (c.fingerprint() != s.coordinators(0).fingerprint()) return true;
    }
    return false;
}

}  // namespace

std::string human_bytes(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

std::string human_ago(std::int64_t then, std::int64_t now) {
    if (then == 0) return "never";
    auto d = now - then;
    if (d < 0) d = 0;
    if (d < 120) return fmt::format("{}s ago", d);
    if (d < 7200) return fmt::format("{}m ago", d / 60);
    return fmt::format("{}h ago", d / 3600);
}

std::string render_status_table(const v1::StatusResponse& s, std::int64_t now) {
    if (!s.joined()) {
        std::string out = "not joined";
        if (!s.last_error().empty()) out += ": " + s.last_error();
        return out +
               "\njoin with: meshctl join COORDINATOR[,COORDINATOR...] --token TOKEN --fingerprint "
               "sha256:...\n";
    }
    std::string addresses, ipv6;
    for (const auto& a : s.addresses()) {
        if (s.ipv6_disabled() && a.find(':') != std::string::npos) {
            ipv6 += (ipv6.empty() ? "" : " ") + a;
            continue;
        }
        addresses += (addresses.empty() ? "" : " ") + a;
    }
    if (!ipv6.empty()) {
        addresses +=
            " (IPv4 only: IPv6 is disabled on this host; " + ipv6 + " is added once it is enabled)";
    }
    std::string link = "connected";
    if (s.down()) {
        link = "down: left the mesh with meshctl down; meshctl up comes back";
    } else if (!s.connected()) {
        link = s.last_error().empty() ? "connecting" : "disconnected: " + s.last_error();
    }
    std::string out = fmt::format(
        "node:        {} ({})\naddresses:   {}\ncoordinator: {} ({})\ninterface:   {} (driver "
        "{}), map version {}\n",
        s.hostname(), s.node_id(), addresses, s.coordinator(), link, s.interface_name(), s.driver(),
        s.netmap_version());
    if (auto replicas = replicas_line(s); !replicas.empty()) {
        out += "replicas:    " + replicas + "\n";
    }
    std::string tags;
    for (const auto& t : s.tags()) tags += (tags.empty() ? "" : ",") + t;
    std::string expiry = "never";
    if (s.key_expires_at() != 0) {
        auto left = s.key_expires_at() - now;
        expiry =
            left <= 0 ? "expired" : fmt::format("in {}d {}h", left / 86400, left % 86400 / 3600);
    }
    out +=
        fmt::format("tags:        {}\nkey expires: {} (rotated before)\ncert pin:    {}{}\n",
                    tags.empty() ? "-" : tags, expiry, s.fingerprint(),
                    pins_differ(s) ? " (of the stream's replica; each has its own: --json)" : "");
    std::string nat = s.nat_type().empty() ? "unknown" : s.nat_type();
    if (nat == "endpoint-dependent") nat += " (no direct path through it: needs a relay)";
    out +=
        fmt::format("nat:         {}{}\n", nat,
                    s.reflexive_endpoint().empty() ? "" : ", mapped to " + s.reflexive_endpoint());
    if (s.container_subnets_size() > 0) {
        out += fmt::format("containers:  {}{}\n", joined(s.container_subnets()),
                           s.cni_config().empty() ? "" : " (CNI config " + s.cni_config() + ")");
    }
    for (const auto& r : s.container_refused()) out += "not routed:  " + r + "\n";
    if (!s.relay().empty()) out += "relay:       " + s.relay() + "\n";
    out += fmt::format("\n{:<16} {:<18} {:<22} {:<10} {:<12} {:>10} {:>10} {}\n", "PEER", "ADDRESS",
                       "ENDPOINT", "PATH", "HANDSHAKE", "RX", "TX", "CONTAINERS");
    for (const auto& p : s.peers()) {
        out += fmt::format("{:<16} {:<18} {:<22} {:<10} {:<12} {:>10} {:>10} {}\n", p.hostname(),
                           p.allowed_ips_size() ? p.allowed_ips(0) : "-",
                           p.endpoint().empty() ? "-" : p.endpoint(),
                           p.path().empty() ? "-" : p.path(), human_ago(p.last_handshake(), now),
                           human_bytes(p.rx_bytes()), human_bytes(p.tx_bytes()),
                           p.container_subnets_size() ? joined(p.container_subnets()) : "-");
    }
    for (const auto& p : s.peers()) {
        if (p.path() == "none") {
            out +=
                fmt::format("no direct path to {}: none of its candidates answers\n", p.hostname());
        }
    }
    if (s.peers_size() == 0) out += "(no peers yet)\n";
    return out;
}

namespace {

template <class Repeated>
nlohmann::ordered_json strings(const Repeated& values) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& v : values) out.push_back(v);
    return out;
}

}  // namespace

std::string render_status_json(const v1::StatusResponse& s) {
    auto coordinators = nlohmann::ordered_json::array();
    for (const auto& c : s.coordinators()) {
        coordinators.push_back(
            {{"address", c.address()}, {"fingerprint", c.fingerprint()}, {"current", c.current()}});
    }
    auto peers = nlohmann::ordered_json::array();
    for (const auto& p : s.peers()) {
        peers.push_back({{"node_id", p.node_id()},
                         {"hostname", p.hostname()},
                         {"public_key", p.public_key()},
                         {"addresses", strings(p.allowed_ips())},
                         {"endpoint", p.endpoint()},
                         {"candidates", strings(p.candidates())},
                         {"path", p.path().empty() ? "probing" : p.path()},
                         {"rtt_us", p.rtt_us()},
                         {"ready", p.ready()},
                         {"last_handshake", p.last_handshake()},
                         {"rx_bytes", p.rx_bytes()},
                         {"tx_bytes", p.tx_bytes()},
                         {"container_subnets", strings(p.container_subnets())}});
    }
    nlohmann::ordered_json out = {{"joined", s.joined()},
                                  {"connected", s.connected()},
                                  {"down", s.down()},
                                  {"node_id", s.node_id()},
                                  {"hostname", s.hostname()},
                                  {"addresses", strings(s.addresses())},
                                  {"ipv6_disabled", s.ipv6_disabled()},
                                  {"public_key", s.public_key()},
                                  {"tags", strings(s.tags())},
                                  {"key_expires_at", s.key_expires_at()},
                                  {"coordinator", s.coordinator()},
                                  {"fingerprint", s.fingerprint()},
                                  {"coordinators", coordinators},
                                  {"last_error", s.last_error()},
                                  {"netmap_version", s.netmap_version()},
                                  {"interface", s.interface_name()},
                                  {"driver", s.driver()},
                                  {"nat", s.nat_type().empty() ? "unknown" : s.nat_type()},
                                  {"reflexive", s.reflexive_endpoint()},
                                  {"candidates", strings(s.candidates())},
                                  {"container_subnets", strings(s.container_subnets())},
                                  {"cni_config", s.cni_config()},
                                  {"container_refused", strings(s.container_refused())},
                                  {"relay", s.relay()},
                                  {"peers", peers}};
    return out.dump(2) + "\n";
}

int status_exit_code(const v1::StatusResponse& status) {
    if (!status.joined()) return 2;
    return status.connected() ? 0 : 3;
}

}  // namespace mesh::agent
