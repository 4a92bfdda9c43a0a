#include "agent/netcheck_view.hpp"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

namespace mesh::agent {

namespace {

std::string or_unknown(const std::string& s) {
    return s.empty() ? "unknown" : s;
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out.empty() ? "none" : out;
}

// What the NAT type means for direct paths.
std::string nat_meaning(const std::string& nat) {
    if (nat == "none") return "no NAT: peers reach this host directly";
    if (nat == "endpoint-independent") {
        return "one mapping for every destination: hole punching works";
    }
    if (nat == "endpoint-dependent") {
        return "a new mapping per destination: direct paths only to easy peers, else the relay";
    }
    return "not known yet (STUN needs both of the coordinator's STUN ports)";
}

}  // namespace

std::string render_netcheck_table(const v1::NetcheckResponse& r) {
    std::string coordinator = r.coordinator().empty() ? "none" : r.coordinator();
    if (r.coordinator_reachable()) {
        coordinator +=
            fmt::format(" reachable, TCP connect {:.2f} ms", r.coordinator_connect_us() / 1000.0);
    } else if (!r.coordinator().empty()) {
        coordinator += " not reachable: " + r.coordinator_error();
    }
    coordinator += r.connected() ? " (sync stream up)" : " (sync stream down)";
    return fmt::format(
        "udp:          {} (STUN from the WireGuard port to {})\n"
        "nat:          {} ({})\n"
        "reflexive:    {}\n"
        "port mapping: {} ({})\n"
        "ipv6:         global address {}, default route {}; STUN over IPv6 {}\n"
        "coordinator:  {}\n",
        r.udp(), join(r.stun_servers()), or_unknown(r.nat_type()), nat_meaning(r.nat_type()),
        r.reflexive_endpoint().empty() ? "unknown" : r.reflexive_endpoint(), r.port_mapping(),
        r.port_mapping_detail(), r.ipv6_global_address() ? "yes" : "no",
        r.ipv6_default_route() ? "yes" : "no", r.ipv6_stun(), coordinator);
}

std::string render_netcheck_json(const v1::NetcheckResponse& r) {
    nlohmann::ordered_json out = {
        {"udp", r.udp()},
        {"nat", or_unknown(r.nat_type())},
        {"reflexive", r.reflexive_endpoint()},
        {"stun_servers",
         std::vector<std::string>(r.stun_servers().begin(), r.stun_servers().end())},
        {"port_mapping", r.port_mapping()},
        {"port_mapping_detail", r.port_mapping_detail()},
        {"ipv6_global_address", r.ipv6_global_address()},
        {"ipv6_default_route", r.ipv6_default_route()},
        {"ipv6_stun", r.ipv6_stun()},
        {"coordinator", r.coordinator()},
        {"coordinator_reachable", r.coordinator_reachable()},
        {"coordinator_connect_ms", r.coordinator_connect_us() / 1000.0},
        {"coordinator_error", r.coordinator_error()},
        {"connected", r.connected()}};
    return out.dump(2) + "\n";
}

}  // namespace mesh::agent
