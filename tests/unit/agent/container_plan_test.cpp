#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "agent/cni_config.hpp"
#include "agent/container_plan.hpp"
#include "agent/desired_config.hpp"
#include "agent/masquerade_rules.hpp"
#include "kmod-bridge/error.hpp"
#include "tests/unit/support/agent_support.hpp"

using namespace mesh::agent;
using mesh::kb::IpPrefix;
constexpr auto peer = mesh::test::peer_info;

namespace {

IpPrefix P(const char* text) {
    return IpPrefix::parse(text);
}

NetMap map_with(std::vector<PeerInfo> peers) {
    NetMap map;
    map.self = peer("self", 9, 9);
    for (auto& p : peers) map.peers[p.node_id] = p;
    return map;
}

PeerInfo with_subnets(PeerInfo p, std::vector<IpPrefix> subnets, std::uint64_t key_version = 0) {
    p.container_subnets = std::move(subnets);
    p.key_version = key_version;
    return p;
}

}  // namespace

TEST_CASE("container plan: own subnet and each peer's private subnets are accepted") {
    auto map = map_with({with_subnets(peer("a", 1, 1), {P("10.244.1.0/24"), P("fd10::/64")}),
                         with_subnets(peer("b", 2, 2), {P("10.244.2.0/24")}), peer("c", 3, 3)});
    ContainerPlanInput input;
    input.own = {P("10.244.0.0/24")};
    auto plan = plan_containers(map, NetworkSettings{}, input);
    CHECK(plan.own == std::vector{P("10.244.0.0/24")});
    REQUIRE(plan.peers.size() == 2);
    CHECK(plan.peers["a"] == std::vector{P("10.244.1.0/24"), P("fd10::/64")});
    CHECK(plan.peers["b"] == std::vector{P("10.244.2.0/24")});
    CHECK(plan.refused.empty());
    CHECK(peer_routes(plan).size() == 3);
}

TEST_CASE("container plan: what a coordinator must not steer into the tunnel is refused") {
    auto map = map_with({
        with_subnets(peer("public", 1, 1), {P("8.8.8.0/24")}, 1),
        with_subnets(peer("overlay", 2, 2), {P("100.64.5.0/24")}, 2),
        with_subnets(peer("lan", 3, 3), {P("192.168.1.0/24")}, 3),
        with_subnets(peer("mine", 4, 4), {P("10.244.0.0/25")}, 4),
        with_subnets(peer("older", 5, 5), {P("10.244.7.0/24")}, 5),
        with_subnets(peer("younger", 6, 6), {P("10.244.7.128/25")}, 6),
        with_subnets(peer("allowed", 7, 7), {P("203.0.113.0/24")}, 7),
    });
    ContainerPlanInput input;
    input.own = {P("10.244.0.0/24")};
    input.host_addresses = {{"eth0", mesh::kb::IpAddress::parse("192.168.1.20"), 24},
                            {"cni-mesh0", mesh::kb::IpAddress::parse("10.244.0.1"), 24}};
    input.ignored_interfaces = {"mesh0", "cni-mesh0"};  // the bridge carries our own subnet
    input.allowed = {P("203.0.113.0/24")};
    auto plan = plan_containers(map, NetworkSettings{}, input);
    CHECK(plan.own == std::vector{P("10.244.0.0/24")});
    CHECK(plan.peers.size() == 2);
    CHECK(plan.peers["older"] == std::vector{P("10.244.7.0/24")});
    CHECK(plan.peers["allowed"] == std::vector{P("203.0.113.0/24")});
    auto refused = [&](const std::string& node, const std::string& reason) {
        for (const auto& line : plan.refused) {
            if (line.find("node=" + node + " ") == 0 &&
                line.find("reason=" + reason) != line.npos) {
                return true;
            }
        }
        return false;
    };
    CHECK(refused("public", "not_private_use"));
    CHECK(refused("overlay", "overlaps_overlay"));
    CHECK(refused("lan", "overlaps_local_network:eth0"));
    CHECK(refused("mine", "overlaps_accepted:10.244.0.0/24"));
    CHECK(refused("younger", "overlaps_accepted:10.244.7.0/24"));
    CHECK(plan.refused.size() == 5);
}

TEST_CASE("container plan: the older peer keeps an overlapping subnet whatever the node ids") {
    auto map = map_with({with_subnets(peer("a-new", 1, 1), {P("10.244.9.0/24")}, 20),
                         with_subnets(peer("z-old", 2, 2), {P("10.244.9.0/24")}, 10)});
    auto plan = plan_containers(map, NetworkSettings{}, {});
    CHECK(plan.peers.size() == 1);
    CHECK(plan.peers.contains("z-old"));
}

TEST_CASE("container subnets join the peer's allowed IPs in the desired config") {
    auto map = map_with({with_subnets(peer("a", 1, 1), {P("10.244.1.0/24")})});
    map.ready = {"a"};
    ContainerPlanInput input;
    auto plan = plan_containers(map, NetworkSettings{}, input);
    DeviceIdentity identity;
    auto config = desired_config(map, NetworkSettings{}, identity, {}, nullptr, &plan);
    REQUIRE(config.peers.size() == 1);
    auto& ips = config.peers[0].allowed_ips;
    CHECK(std::find(ips.begin(), ips.end(), P("10.244.1.0/24")) != ips.end());
    auto without = desired_config(map, NetworkSettings{}, identity, {});
    CHECK(without.peers[0].allowed_ips.size() == ips.size() - 1);
}

TEST_CASE("route changes: only what differs, no duplicates") {
    auto changes = route_changes({P("10.244.1.0/24"), P("10.244.2.0/24"), P("10.244.2.0/24")},
                                 {P("10.244.2.0/24"), P("10.244.3.0/24")});
    CHECK(changes.add == std::vector{P("10.244.1.0/24")});
    CHECK(changes.remove == std::vector{P("10.244.3.0/24")});
    CHECK(route_changes({P("10.244.1.0/24")}, {P("10.244.1.0/24")}).empty());
}

TEST_CASE("CNI conflist: bridge and host-local with the subnet, gateway, mesh MTU, no ipMasq") {
    CniSettings settings;
    settings.network_name = "mesh0";
    settings.bridge = "cni-mesh0";
    settings.mtu = 1380;
    settings.ipam_data_dir = "/var/lib/mesh/cni";
    auto text = cni_conflist(settings, {P("10.244.3.0/24"), P("fd10:0:0:3::/64")});
    auto json = nlohmann::json::parse(text);
    CHECK(json["cniVersion"] == "1.0.0");
    CHECK(json["name"] == "mesh0");
    auto bridge = json["plugins"][0];
    CHECK(bridge["type"] == "bridge");
    CHECK(bridge["bridge"] == "cni-mesh0");
    CHECK(bridge["isGateway"] == true);
    CHECK(bridge["ipMasq"] == false);
    CHECK(bridge["mtu"] == 1380);
    CHECK(bridge["ipam"]["type"] == "host-local");
    CHECK(bridge["ipam"]["dataDir"] == "/var/lib/mesh/cni");
    CHECK(bridge["ipam"]["ranges"][0][0]["subnet"] == "10.244.3.0/24");
    CHECK(bridge["ipam"]["ranges"][1][0]["subnet"] == "fd10:0:0:3::/64");
    CHECK(bridge["ipam"]["routes"][0]["dst"] == "0.0.0.0/0");
    CHECK(bridge["ipam"]["routes"][1]["dst"] == "::/0");
    CHECK(is_our_conflist(text, "mesh0"));
    CHECK_FALSE(is_our_conflist(text, "other"));
    CHECK_FALSE(is_our_conflist(R"({"name":"mesh0","plugins":[]})", "mesh0"));  // by hand
    CHECK_FALSE(is_our_conflist("{not json", "mesh0"));
    CHECK(cni_conflist_path("/etc/cni/net.d", "mesh0") == "/etc/cni/net.d/10-mesh0.conflist");
}

TEST_CASE("masquerade rules: the subnet's traffic out of any other interface, replaced whole") {
    auto script = masquerade_ruleset("mesh0", "cni-mesh0", {P("10.244.3.0/24"), P("fd10::/64")});
    CHECK(script.find("table inet mesh_mesh0\ndelete table inet mesh_mesh0\n") == 0);
    CHECK(script.find("type nat hook postrouting priority srcnat;") != std::string::npos);
    CHECK(script.find("ip saddr 10.244.3.0/24 oifname != \"mesh0\" oifname != \"cni-mesh0\" "
                      "masquerade") != std::string::npos);
    CHECK(script.find("ip6 saddr fd10::/64 oifname") != std::string::npos);
    CHECK(masquerade_table("wg-mesh.1") == "mesh_wg_mesh_1");
    CHECK(masquerade_removal("mesh0") == "table inet mesh_mesh0\ndelete table inet mesh_mesh0\n");
    CHECK_THROWS_AS(masquerade_ruleset("bad\"name", "br", {}), mesh::Error);
}
