#include "agent/data_plane.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/kernel_driver.hpp"
#include "kmod-bridge/reconcile.hpp"
#include "kmod-bridge/rtnl.hpp"
#include "kmod-bridge/uapi_driver.hpp"

namespace mesh::agent {

DataPlane::DataPlane(DataPlaneOptions options) : options_(std::move(options)) {}

DataPlane::~DataPlane() = default;

void DataPlane::ensure_device() {
    if (driver_) return;
    if (options_.driver != "auto" && options_.driver != "kernel" &&
        options_.driver != "userspace") {
        throw Error("driver '" + options_.driver + "' is not one of auto, kernel, userspace");
    }
    auto uapi = std::make_unique<kb::UapiDriver>(options_.interface, options_.socket_dir);
    try {
        uapi->get();  // a device left running by an earlier agent: adopt it, sessions intact
        driver_ = std::move(uapi);
        spdlog::info("event=device_adopted interface={} driver=uapi", options_.interface);
        return;
    } catch (const Error&) {
    }
    if (options_.driver != "userspace" && try_kernel()) return;
    if (options_.driver == "kernel") {
        throw Error("the kernel has no WireGuard module; use --driver auto or userspace");
    }
    start_userspace();
}

// The kernel's WireGuard when it has one: a link that survives the agent (decision 0003).
bool DataPlane::try_kernel() {
    kb::Rtnl rtnl;
    bool existed = rtnl.link_index(options_.interface) != 0;
    if (!kb::create_kernel_device(options_.interface)) return false;
    driver_ = std::make_unique<kb::KernelDriver>(options_.interface);
    created_fresh_ = !existed;
    spdlog::info("event={} interface={} driver=kernel",
                 existed ? "device_adopted" : "device_created", options_.interface);
    return true;
}

void DataPlane::start_userspace() {
    {
        kb::WireguardGo::Options opts;
        opts.binary = options_.wireguard_go;
        opts.socket_dir = options_.socket_dir;
        opts.log_file = options_.log_file;
        // MESH_WIREGUARD_GO_LOG=verbose shows wireguard-go's handshakes, for debugging.
        const char* level = std::getenv("MESH_WIREGUARD_GO_LOG");
        opts.log_level = level ? level : "error";
        process_ = std::make_unique<kb::WireguardGo>(options_.interface, opts);
        created_fresh_ = true;
        spdlog::info("event=device_created interface={} driver=uapi wireguard_go_pid={}",
                     options_.interface, process_->pid());
    }
    driver_ = std::make_unique<kb::UapiDriver>(options_.interface, options_.socket_dir);
}

void DataPlane::sync_addresses(const std::vector<kb::IpPrefix>& wanted) {
    kb::Rtnl rtnl;
    auto have = rtnl.addresses(options_.interface);
    for (const auto& a : wanted) {
        if (std::find(have.begin(), have.end(), a) == have.end()) {
            rtnl.add_address(options_.interface, a);
        }
    }
    for (const auto& a : have) {
        bool link_local =
            !a.address.is_v4() && a.address.bytes[0] == 0xfe && (a.address.bytes[1] & 0xc0) == 0x80;
        if (!link_local && std::find(wanted.begin(), wanted.end(), a) == wanted.end()) {
            rtnl.del_address(options_.interface, a);
        }
    }
}

void DataPlane::up(const std::vector<kb::IpPrefix>& addresses, unsigned mtu) {
    ensure_device();
    kb::Rtnl rtnl;
    rtnl.set_mtu(options_.interface, mtu);
    sync_addresses(addresses);
    rtnl.set_link_up(options_.interface);
}

kb::DeviceUpdate DataPlane::apply(const kb::DeviceConfig& desired) {
    return apply(desired, state());
}

kb::DeviceUpdate DataPlane::apply(const kb::DeviceConfig& desired, const kb::DeviceState& current) {
    if (!driver_) throw Error("the WireGuard device is not up");
    auto update = kb::reconcile(desired, current);
    if (!update.empty()) driver_->apply(update);
    return update;
}

kb::DeviceState DataPlane::state() {
    if (!driver_) throw Error("the WireGuard device is not up");
    return driver_->get();
}

void DataPlane::refresh_endpoints() {
    kb::DeviceUpdate update;
    for (const auto& p : state().peers) {
        if (!p.config.endpoint) continue;
        kb::PeerUpdate u;
        u.public_key = p.config.public_key;
        u.update_only = true;
        u.endpoint = p.config.endpoint;
        update.peers.push_back(u);
    }
    if (!update.empty()) driver_->apply(update);
}

void DataPlane::down() {
    driver_.reset();
    if (process_) {
        process_->stop();
        process_.reset();
        spdlog::info("event=device_stopped interface={}", options_.interface);
    }
}

}  // namespace mesh::agent
