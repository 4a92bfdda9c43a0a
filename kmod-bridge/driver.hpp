#pragma once
// One interface over the ways of driving a WireGuard device: the kernel over generic netlink,
// or a userspace implementation (wireguard-go, boringtun) over its UAPI socket. The agent picks
// one at start and never cares which afterwards.
#include <memory>
#include <string>

#include "kmod-bridge/device.hpp"

namespace mesh::kb {

class Driver {
  public:
    virtual ~Driver() = default;
    // Reads the device's full state. Throws mesh::Error with context on failure.
    virtual DeviceState get() = 0;
    // Applies a partial update. An empty update must not touch the device.
    virtual void apply(const DeviceUpdate& update) = 0;
    virtual std::string name() const = 0;  // "uapi" or "kernel"
    virtual std::string interface_name() const = 0;
};

}  // namespace mesh::kb
