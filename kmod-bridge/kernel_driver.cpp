#include "kmod-bridge/kernel_driver.hpp"

#include <linux/genetlink.h>

#include <cerrno>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/rtnl.hpp"
#include "kmod-bridge/wg_genl.hpp"

namespace mesh::kb {

namespace {
constexpr int kDumpAttempts = 5;
}

KernelDriver::KernelDriver(std::string interface, std::chrono::milliseconds timeout)
    : interface_(std::move(interface)), socket_(NETLINK_GENERIC, "generic netlink", timeout) {
    auto request = encode_get_family(socket_.next_seq());
    auto* header = reinterpret_cast<nlmsghdr*>(request.data());
    try {
        socket_.transact(
            header, "looking up the wireguard netlink family", {},
            [&](std::span<const std::uint8_t> buffer, std::uint32_t seq) {
                return walk_replies(buffer, seq,
                                    [&](const nlmsghdr& m) { family_ = parse_family_id(m); });
            },
            true);
    } catch (const Error& e) {
        throw Error(std::string("the kernel has no WireGuard (") + e.what() + ")");
    }
}

DeviceState KernelDriver::get() {
    for (int attempt = 1; attempt <= kDumpAttempts; ++attempt) {
        GetDeviceParser parser;
        auto request = encode_get_device(interface_, family_, socket_.next_seq());
        socket_.transact(
            reinterpret_cast<nlmsghdr*>(request.data()), "reading WireGuard device " + interface_,
            {},
            [&](std::span<const std::uint8_t> buffer, std::uint32_t seq) {
                return walk_replies(buffer, seq, [&](const nlmsghdr& m) { parser.add(m); });
            },
            true);
        // The device changed during the dump: the pieces may not fit together; read again.
        if (!parser.interrupted()) return parser.state();
    }
    throw Error("reading WireGuard device " + interface_ + ": the dump was interrupted " +
                std::to_string(kDumpAttempts) + " times in a row");
}

void KernelDriver::apply(const DeviceUpdate& update) {
    auto messages = encode_set_device(update, interface_, family_, socket_.next_seq());
    for (std::size_t i = 0; i < messages.size(); ++i) {
        socket_.transact(
            reinterpret_cast<nlmsghdr*>(messages[i].data()),
            "configuring WireGuard device " + interface_ + " (message " + std::to_string(i + 1) +
                " of " + std::to_string(messages.size()) + ")",
            {},
            [](std::span<const std::uint8_t> buffer, std::uint32_t seq) {
                return walk_replies(buffer, seq, [](const nlmsghdr&) {});
            },
            false);
    }
}

bool create_kernel_device(const std::string& interface) {
    Rtnl rtnl;
    try {
        rtnl.create_link(interface, "wireguard");
    } catch (const Error& e) {
        // "Operation not supported" is the kernel saying it has no such link kind.
        if (std::string(e.what()).find(errno_text(EOPNOTSUPP)) != std::string::npos) return false;
        throw;
    }
    return true;
}

}  // namespace mesh::kb
