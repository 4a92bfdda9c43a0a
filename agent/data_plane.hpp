#pragma once
// The agent's hold on the WireGuard device: creates it (or adopts one this agent left running),
// refuses one that belongs to someone else, keeps its addresses, MTU and link state, and applies
// desired configs through the reconcile so only what changed is ever sent.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/device_ownership.hpp"
#include "kmod-bridge/device.hpp"
#include "kmod-bridge/dir_lock.hpp"
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

    // Ensures the device exists, is this owner's (created now, or one it left running: decision
    // 0003) and is up. Refuses, with a message naming the interface, a device another owner
    // holds: another agent's (the interface lock, or a private key not ours) or one made by hand
    // or by wg-quick. Idempotent.
    void prepare(const DeviceOwner& owner);
    // prepare, then exactly these addresses and this MTU. IPv6 addresses are left out while IPv6
    // is disabled on the interface (ipv6_disabled()); calling up again adds them once it is on.
    void up(const DeviceOwner& owner, const std::vector<kb::IpPrefix>& addresses, unsigned mtu);
    bool is_up() const { return driver_ != nullptr; }
    // True when the device was created by this agent (no sessions survived from before).
    bool created_fresh() const { return created_fresh_; }
    // After up(): IPv6 is disabled on the host or the interface (net.ipv6.conf.*.disable_ipv6,
    // or no IPv6 in the kernel), so the device has its IPv4 address only.
    bool ipv6_disabled() const { return ipv6_disabled_; }
    // Applies the minimal update towards desired; returns it (empty when nothing changed).
    kb::DeviceUpdate apply(const kb::DeviceConfig& desired);
    // The same, against a state the caller has just read.
    kb::DeviceUpdate apply(const kb::DeviceConfig& desired, const kb::DeviceState& current);
    kb::DeviceState state();
    // Sets every peer's endpoint again, unchanged: after the host's addresses changed,
    // wireguard-go (0.0.20220316) keeps sending from its cached old source address until its next
    // handshake; a set endpoint clears that cache.
    void refresh_endpoints();
    // Removes the peer and adds it again as configured, in one update: its handshake state
    // (an unanswered initiation's 5 s back-off) goes, and keepalive starts a new one at once.
    void reset_peer(const kb::PeerConfig& peer);
    // Lets go of the device: stops a wireguard-go this agent started (the device disappears with
    // it); a kernel device stays (decision 0003).
    void down();
    // Undoes a prepare() whose join failed: deletes the device if this agent created it.
    void abandon();
    // Lets go of the device and deletes it, whoever created it (meshctl logout: the node it
    // served is gone, and the next join's keys would not own it): stops a wireguard-go this agent
    // runs, deletes a kernel link, also one left running while down that carries owner's alias.
    void remove(const DeviceOwner& owner);

    std::string driver_name() const { return driver_ ? driver_->name() : "none"; }
    const std::string& interface_name() const { return options_.interface; }

  private:
    void ensure_device(const DeviceOwner& owner);
    bool try_adopt_userspace(const DeviceOwner& owner);
    bool try_kernel(const DeviceOwner& owner);
    void start_userspace();
    void check_claim(const kb::DeviceState& state, const std::string& alias,
                     const DeviceOwner& owner, const std::string& where);
    void sync_addresses(const std::vector<kb::IpPrefix>& addresses);

    DataPlaneOptions options_;
    std::unique_ptr<DirLock> interface_lock_;
    std::unique_ptr<kb::WireguardGo> process_;
    std::unique_ptr<kb::Driver> driver_;
    bool created_fresh_ = false;
    bool ipv6_disabled_ = false;
    bool created_log_ = false;  // wireguard-go's log file did not exist before we started it
};

// Whether IPv6 is off for `interface` (its conf/IF/disable_ipv6, else conf/default's, is 1; or
// the kernel has no IPv6 at all). Reads /proc/sys/net/ipv6 of the caller's network namespace.
bool ipv6_disabled_on(const std::string& interface);

}  // namespace mesh::agent
