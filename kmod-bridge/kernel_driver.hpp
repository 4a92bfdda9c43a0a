#pragma once
// The Driver for the kernel's WireGuard: the `wireguard` generic-netlink family (id resolved
// through nlctrl), GET_DEVICE as a dump (retried when the kernel flags it interrupted) and
// SET_DEVICE in as many messages as the update needs (see wg_genl.hpp).
#include <chrono>
#include <string>

#include "kmod-bridge/driver.hpp"
#include "kmod-bridge/netlink_socket.hpp"

namespace mesh::kb {

class KernelDriver : public Driver {
  public:
    // Throws mesh::Error when the kernel has no WireGuard (no `wireguard` family).
    explicit KernelDriver(std::string interface,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5));

    DeviceState get() override;
    void apply(const DeviceUpdate& update) override;
    std::string name() const override { return "kernel"; }
    std::string interface_name() const override { return interface_; }

  private:
    std::string interface_;
    NetlinkSocket socket_;
    std::uint16_t family_ = 0;
};

// Creates (or finds) a kernel WireGuard interface; false when the kernel has no WireGuard.
// Other failures (permissions, a name taken by another kind of link) throw mesh::Error.
bool create_kernel_device(const std::string& interface);

}  // namespace mesh::kb
