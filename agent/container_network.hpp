#pragma once
// The host's side of container networking (I/O): routes through the mesh interface for every
// accepted peer container subnet, and for the host's own subnet forwarding on the mesh and
// bridge interfaces, the masquerade table (masquerade_rules.hpp) and the CNI conflist
// (cni_config.hpp). Like the device, it is kept equal to a plan with minimal changes: routes are
// compared with the kernel's table (those this agent made carry kRouteProtocol, so a restarted
// agent finds and adopts them), and the rest with what was applied last.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "agent/cni_config.hpp"
#include "agent/container_plan.hpp"

namespace mesh::agent {

struct ContainerNetworkOptions {
    std::string mesh_interface = "mesh0";
    std::string cni_conf_dir = "/etc/cni/net.d";  // "" = write no conflist
    CniSettings cni;                              // its mtu is set from the mesh's on apply
    bool masquerade = true;
};

class ContainerNetwork {
  public:
    // rtm_protocol of the agent's routes ('M'; not in iproute2's rt_protos).
    static constexpr std::uint8_t kRouteProtocol = 77;

    explicit ContainerNetwork(ContainerNetworkOptions options);

    // Makes the host match the plan. Each part that fails throws mesh::Error naming it after the
    // others were tried; what failed is tried again on the next apply.
    void apply(const ContainerPlan& plan, unsigned mtu);

    const ContainerNetworkOptions& options() const { return options_; }

  private:
    void apply_routes(const ContainerPlan& plan);
    void apply_forwarding(const ContainerPlan& plan);
    void apply_masquerade(const ContainerPlan& plan);
    void apply_conflist(const ContainerPlan& plan, unsigned mtu);

    ContainerNetworkOptions options_;
    // What was applied last; nullopt before the first apply (stale state from an earlier run,
    // a table or a conflist, is cleared then).
    std::optional<std::vector<kb::IpPrefix>> masquerade_for_;
    std::optional<std::string> conflist_;
    // The routes applied last and when the kernel's table was last read: an unchanged set is
    // not dumped again on every reconcile (one per map delta), only every kRouteCheck, to
    // repair what someone else changed.
    std::optional<std::vector<kb::IpPrefix>> routes_;
    std::chrono::steady_clock::time_point routes_checked_{};
    static constexpr auto kRouteCheck = std::chrono::seconds(30);
    bool bridge_forwarding_ = false;
    bool mesh_forwarding_ = false;
    bool ipv6_forwarding_ = false;
};

// Runs an nft script through libnftables in one transaction; throws mesh::Error with nft's
// own message.
void run_nft(const std::string& script);

}  // namespace mesh::agent
