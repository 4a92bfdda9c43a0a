#include "agent/data_plane.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/kernel_driver.hpp"
#include "kmod-bridge/reconcile.hpp"
#include "kmod-bridge/rtnl.hpp"
#include "kmod-bridge/uapi_driver.hpp"

namespace mesh::agent {

bool ipv6_disabled_on(const std::string& interface) {
    const std::string base = "/proc/sys/net/ipv6/conf/";
    for (const auto& conf : {interface, std::string("default")}) {
        std::ifstream in(base + conf + "/disable_ipv6");
        int value = 0;
        if (in >> value) return value != 0;
    }
    return true;  // no /proc/sys/net/ipv6: the kernel runs without IPv6 (ipv6.disable=1)
}

DataPlane::DataPlane(DataPlaneOptions options) : options_(std::move(options)) {}

DataPlane::~DataPlane() = default;

void DataPlane::check_claim(const kb::DeviceState& state, const std::string& alias,
                            const DeviceOwner& owner, const std::string& where) {
    switch (claim_device(alias, state, owner)) {
        case DeviceClaim::ours:
        case DeviceClaim::unclaimed:
            return;
        case DeviceClaim::foreign:
            break;
    }
    throw Error("interface " + options_.interface + " already exists (" + where +
                ") and is not this agent's: its WireGuard key is another's (another mesh-agent, "
                "wg-quick, or set by hand). Refusing to touch its peers; stop its owner, or give "
                "this agent another --interface");
}

// A wireguard-go answering on the interface's UAPI socket: adopted with its sessions when it is
// ours (an earlier run of this agent left it), refused otherwise.
bool DataPlane::try_adopt_userspace(const DeviceOwner& owner) {
    auto uapi = std::make_unique<kb::UapiDriver>(options_.interface, options_.socket_dir);
    kb::DeviceState state;
    try {
        state = uapi->get();
    } catch (const Error&) {
        return false;  // nobody answers: nothing to adopt
    }
    kb::Rtnl rtnl;
    auto link = rtnl.link(options_.interface);
    check_claim(state, link ? link->alias : "", owner,
                "a userspace device on " + uapi->socket_path());
    if (!link) {
        // Its socket is a file-system path, shared by every network namespace on the host.
        throw Error("the wireguard-go answering on " + uapi->socket_path() + " has no interface " +
                    options_.interface +
                    " in this network namespace (it belongs to another one); give this agent "
                    "another --interface");
    }
    driver_ = std::move(uapi);
    spdlog::info("event=device_adopted interface={} driver=uapi", options_.interface);
    return true;
}

// The kernel's WireGuard when it has one: a link that survives the agent (decision 0003).
bool DataPlane::try_kernel(const DeviceOwner& owner) {
    kb::Rtnl rtnl;
    if (auto existing = rtnl.link(options_.interface)) {
        std::unique_ptr<kb::KernelDriver> driver;
        kb::DeviceState state;
        try {
            driver = std::make_unique<kb::KernelDriver>(options_.interface);
            state = driver->get();
        } catch (const Error& e) {
            if (options_.driver != "kernel") return false;  // start_userspace says what it is
            throw Error("interface " + options_.interface +
                        " already exists and is not a kernel WireGuard device (" + e.what() +
                        "); give this agent another --interface");
        }
        check_claim(state, existing->alias, owner, "a kernel WireGuard link");
        driver_ = std::move(driver);
        created_fresh_ = false;
        spdlog::info("event=device_adopted interface={} driver=kernel", options_.interface);
        return true;
    }
    if (!kb::create_kernel_device(options_.interface)) return false;
    driver_ = std::make_unique<kb::KernelDriver>(options_.interface);
    created_fresh_ = true;
    spdlog::info("event=device_created interface={} driver=kernel", options_.interface);
    return true;
}

void DataPlane::start_userspace() {
    kb::Rtnl rtnl;
    if (rtnl.link(options_.interface)) {
        throw Error("interface " + options_.interface +
                    " already exists and is not a WireGuard device this agent can drive (no "
                    "wireguard-go answers for it in " +
                    options_.socket_dir + "); give this agent another --interface");
    }
    kb::WireguardGo::Options opts;
    opts.binary = options_.wireguard_go;
    opts.socket_dir = options_.socket_dir;
    opts.log_file = options_.log_file;
    // MESH_WIREGUARD_GO_LOG=verbose shows wireguard-go's handshakes, for debugging.
    const char* level = std::getenv("MESH_WIREGUARD_GO_LOG");
    opts.log_level = level ? level : "error";
    created_log_ = !options_.log_file.empty() && !std::filesystem::exists(options_.log_file);
    process_ = std::make_unique<kb::WireguardGo>(options_.interface, opts);
    created_fresh_ = true;
    spdlog::info("event=device_created interface={} driver=uapi wireguard_go_pid={}",
                 options_.interface, process_->pid());
    driver_ = std::make_unique<kb::UapiDriver>(options_.interface, options_.socket_dir);
}

void DataPlane::ensure_device(const DeviceOwner& owner) {
    if (driver_) return;
    if (options_.driver != "auto" && options_.driver != "kernel" &&
        options_.driver != "userspace") {
        throw Error("driver '" + options_.driver + "' is not one of auto, kernel, userspace");
    }
    if (!interface_lock_) {
        // One agent per interface, whatever their state directories: the UAPI socket's folder
        // is shared by every agent on the host (and every network namespace).
        std::filesystem::create_directories(options_.socket_dir);
        interface_lock_ = std::make_unique<DirLock>(
            options_.socket_dir, options_.interface + ".lock", "mesh-agent",
            DirLock::Conflict{"interface " + options_.interface,
                              "give this agent another --interface"});
    }
    if (try_adopt_userspace(owner)) return;
    if (options_.driver != "userspace" && try_kernel(owner)) return;
    if (options_.driver == "kernel") {
        throw Error("the kernel has no WireGuard module; use --driver auto or userspace");
    }
    start_userspace();
}

void DataPlane::prepare(const DeviceOwner& owner) {
    ensure_device(owner);
    kb::Rtnl rtnl;
    auto link = rtnl.link(options_.interface);
    if (!link)
        throw Error("interface " + options_.interface + " vanished (did wireguard-go exit?)");
    if (link->alias != owner.alias) rtnl.set_alias(options_.interface, owner.alias);
    rtnl.set_link_up(options_.interface);
}

void DataPlane::sync_addresses(const std::vector<kb::IpPrefix>& wanted) {
    kb::Rtnl rtnl;
    ipv6_disabled_ = ipv6_disabled_on(options_.interface);
    auto have = rtnl.addresses(options_.interface);
    for (const auto& a : wanted) {
        if (!a.address.is_v4() && ipv6_disabled_) continue;
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

void DataPlane::up(const DeviceOwner& owner, const std::vector<kb::IpPrefix>& addresses,
                   unsigned mtu) {
    prepare(owner);
    kb::Rtnl rtnl;
    rtnl.set_mtu(options_.interface, mtu);
    bool had_ipv6_off = ipv6_disabled_;
    sync_addresses(addresses);
    if (ipv6_disabled_ && !had_ipv6_off) {
        spdlog::warn(
            "event=ipv6_disabled interface={} hint=\"IPv6 is disabled on this host "
            "(net.ipv6.conf.*.disable_ipv6=1): the overlay runs IPv4 only until it is enabled\"",
            options_.interface);
    } else if (had_ipv6_off && !ipv6_disabled_) {
        spdlog::info("event=ipv6_enabled interface={}", options_.interface);
    }
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

void DataPlane::reset_peer(const kb::PeerConfig& peer) {
    if (!driver_) throw Error("the WireGuard device is not up");
    kb::DeviceUpdate update;
    kb::PeerUpdate gone;
    gone.public_key = peer.public_key;
    gone.remove = true;
    kb::PeerUpdate again;
    again.public_key = peer.public_key;
    again.endpoint = peer.endpoint;
    again.persistent_keepalive = peer.persistent_keepalive;
    again.replace_allowed_ips = true;
    again.allowed_ips = peer.allowed_ips;
    update.peers = {gone, again};
    driver_->apply(update);
}

void DataPlane::down() {
    driver_.reset();
    if (process_) {
        process_->stop();
        process_.reset();
        spdlog::info("event=device_stopped interface={}", options_.interface);
    }
}

void DataPlane::remove(const DeviceOwner& owner) {
    bool kernel = driver_ && !process_;
    down();
    if (!kernel) {
        // Not driven now (meshctl down let go of it): only a link that is provably ours.
        try {
            auto link = kb::Rtnl().link(options_.interface);
            kernel = link && link->alias == owner.alias;
        } catch (const Error&) {
        }
    }
    if (kernel) {
        try {
            kb::Rtnl().delete_link(options_.interface);
            spdlog::info("event=device_deleted interface={}", options_.interface);
        } catch (const Error& e) {
            spdlog::warn("event=device_delete_failed interface={} error={}", options_.interface,
                         e.what());
        }
    }
    created_fresh_ = false;
}

void DataPlane::abandon() {
    bool kernel_created = driver_ && !process_ && created_fresh_;
    bool userspace_started = process_ != nullptr;
    down();
    if (userspace_started && created_log_) {
        std::error_code ignored;
        std::filesystem::remove(options_.log_file, ignored);  // nothing of the join stays behind
    }
    if (kernel_created) {
        try {
            kb::Rtnl().delete_link(options_.interface);
        } catch (const Error& e) {
            spdlog::warn("event=device_delete_failed interface={} error={}", options_.interface,
                         e.what());
        }
    }
    created_fresh_ = false;
}

}  // namespace mesh::agent
