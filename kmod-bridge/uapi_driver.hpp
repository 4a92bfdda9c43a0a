#pragma once
// The Driver for userspace WireGuard implementations (wireguard-go, boringtun): each get and
// each apply is one fresh connection to <socket_dir>/<interface>.sock speaking the UAPI text
// protocol, with every send and receive bounded by a timeout.
#include <chrono>
#include <string>
#include <string_view>

#include "kmod-bridge/driver.hpp"

namespace mesh::kb {

class UapiDriver : public Driver {
  public:
    explicit UapiDriver(std::string interface, std::string socket_dir = "/var/run/wireguard",
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

    DeviceState get() override;
    // Sends the update as one set request; an empty update sends nothing. Throws mesh::Error
    // naming the socket when the device is unreachable or refuses the update.
    void apply(const DeviceUpdate& update) override;
    std::string name() const override { return "uapi"; }
    std::string interface_name() const override { return interface_; }

    const std::string& socket_path() const { return socket_path_; }

  private:
    // Sends one request and returns the raw reply, up to and including its blank line.
    std::string transact(std::string_view request, std::string_view operation);

    std::string interface_;
    std::string socket_path_;
    std::chrono::milliseconds timeout_;
};

}  // namespace mesh::kb
