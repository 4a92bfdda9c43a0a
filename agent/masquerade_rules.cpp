#include "agent/masquerade_rules.hpp"

#include <cctype>

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

namespace {

std::string quoted_interface(const std::string& name) {
    if (name.empty() || name.size() > 15 || name.find_first_of("\"\\ \n") != std::string::npos) {
        throw Error("interface name '" + name + "' cannot be used in an nftables rule");
    }
    return "\"" + name + "\"";
}

std::string declare_and_clear(const std::string& table) {
    return "table inet " + table + "\ndelete table inet " + table + "\n";
}

}  // namespace

std::string masquerade_table(const std::string& mesh_interface) {
    std::string table = "mesh_";
    for (unsigned char c : mesh_interface) table += std::isalnum(c) ? static_cast<char>(c) : '_';
    return table;
}

std::string masquerade_ruleset(const std::string& mesh_interface, const std::string& bridge,
                               const std::vector<kb::IpPrefix>& subnets) {
    auto table = masquerade_table(mesh_interface);
    auto mesh = quoted_interface(mesh_interface);
    auto br = quoted_interface(bridge);
    std::string out = declare_and_clear(table);
    out += "table inet " + table + " {\n";
    out += "  chain postrouting {\n";
    out += "    type nat hook postrouting priority srcnat; policy accept;\n";
    for (const auto& subnet : subnets) {
        auto masked = subnet.masked();
        out += std::string("    ") + (masked.address.is_v4() ? "ip" : "ip6") + " saddr " +
               masked.to_string() + " oifname != " + mesh + " oifname != " + br + " masquerade\n";
    }
    out += "  }\n}\n";
    return out;
}

std::string masquerade_removal(const std::string& mesh_interface) {
    return declare_and_clear(masquerade_table(mesh_interface));
}

}  // namespace mesh::agent
