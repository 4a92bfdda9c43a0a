#pragma once
// The agent's hold on the WireGuard device: creates it (or adopts one that survived an agent
// restart), keeps its addresses, MTU and link state, and applies desired configs through the
// reconcile so only what changed is ever sent.
#include <memory>
#include <string>
#include <vector>

#include "kmod-bridge/device.hpp"
#include "kmod-bridge/driver.hpp"
#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/wireguard_go.hpp"

namespace mesh::agent {

struct DataPlaneOptions {
    std::string interface = "mesh0";
    std::string wireguard_go = "wireguard-go";
    std::string socket_dir = "/var/run/wireguard";
    std::string log_file;         // wireguard-go's output
    std::string driver = "auto";  // "auto": kernel if it has WireGuard, else wireguard-go;
                                  // "kernel" or "userspace" to insist on one
};

class DataPlane {
  public:
    explicit DataPlane(DataPlaneOptions options);
    ~DataPlane();

    // Ensures the device exists with exactly these addresses, this MTU, and the link up.
    void up(const std::vector<kb::IpPrefix>& addresses, unsigned mtu);
    bool is_up() const { return driver_ != nullptr; }
    // True when up() had to create the device (no sessions survived from before).
    bool created_fresh() const { return created_fresh_; }
    // Applies the minimal update towards desired; returns it (empty when nothing changed).
    kb::DeviceUpdate apply(const kb::DeviceConfig& desired);
    // The same, against a state the caller has just read.
    kb::DeviceUpdate apply(const kb::DeviceConfig& desired, const kb::DeviceState& current);
    kb::DeviceState state();
    // Sets every peer's endpoint again, unchanged: after the host's addresses changed,
    // wireguard-go (0.0.20220316) keeps sending from its cached old source address until its next
    // handshake; a set endpoint clears that cache.
    void refresh_endpoints();
    // Stops a wireguard-go this agent started; the device disappears with it.
    void down();

    std::string driver_name() const { return driver_ ? driver_->name() : "none"; }
    const std::string& interface_name() const { return options_.interface; }

  private:
    void ensure_device();
    bool try_kernel();
    void start_userspace();
    void sync_addresses(const std::vector<kb::IpPrefix>& addresses);

    DataPlaneOptions options_;
    std::unique_ptr<kb::WireguardGo> process_;
    std::unique_ptr<kb::Driver> driver_;
    bool created_fresh_ = false;
};

}  // namespace mesh::agent
