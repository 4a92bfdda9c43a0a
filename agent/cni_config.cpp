#include "agent/cni_config.hpp"

#include <nlohmann/json.hpp>

namespace mesh::agent {

namespace {
// Marks the files this agent owns: a conflist of the same name made by hand is left alone.
constexpr const char* kOwnerKey = "meshAgentOwned";
}  // namespace

std::string cni_conflist(const CniSettings& settings, const std::vector<kb::IpPrefix>& subnets) {
    using nlohmann::json;
    json ranges = json::array();
    json routes = json::array();
    for (const auto& subnet : subnets) {
        auto masked = subnet.masked();
        ranges.push_back(json::array({json{{"subnet", masked.to_string()}}}));
        routes.push_back(json{{"dst", masked.address.is_v4() ? "0.0.0.0/0" : "::/0"}});
    }
    json ipam{{"type", "host-local"}, {"ranges", ranges}, {"routes", routes}};
    if (!settings.ipam_data_dir.empty()) ipam["dataDir"] = settings.ipam_data_dir;
    json bridge{{"type", "bridge"}, {"bridge", settings.bridge}, {"isGateway", true},
                {"ipMasq", false},  {"hairpinMode", true},       {"mtu", settings.mtu},
                {"ipam", ipam}};
    json conflist{{"cniVersion", kCniVersion},
                  {"name", settings.network_name},
                  {kOwnerKey, true},
                  {"plugins", json::array({bridge})}};
    return conflist.dump(2) + "\n";
}

std::string cni_conflist_path(const std::string& dir, const std::string& network_name) {
    return dir + "/10-" + network_name + ".conflist";
}

bool is_our_conflist(const std::string& text, const std::string& network_name) {
    auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) return false;
    auto name = parsed.find("name");
    auto owned = parsed.find(kOwnerKey);
    return name != parsed.end() && name->is_string() && *name == network_name &&
           owned != parsed.end() && owned->is_boolean() && owned->get<bool>();
}

}  // namespace mesh::agent
