#include "kmod-bridge/netlink_socket.hpp"

#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <system_error>

#include "kmod-bridge/capabilities.hpp"
#include "kmod-bridge/error.hpp"

namespace mesh::kb {

namespace {

using Clock = std::chrono::steady_clock;

// Big enough for one datagram of a dump (the kernel sizes them to at most 32 KiB).
constexpr std::size_t kReceiveBytes = 32768;

}  // namespace

std::string netlink_refusal_advice(int err, bool has_net_admin) {
    switch (err) {
        case EPERM:
        case EACCES:
            if (!has_net_admin) {
                return "; this process lacks CAP_NET_ADMIN: run it as root, or grant it (a "
                       "systemd unit's CapabilityBoundingSet= and AmbientCapabilities=)";
            }
            // Refused with the capability, for instance an IPv6 address where IPv6 is
            // disabled: the advice to grant it would send the operator the wrong way.
            return "; refused although this process has CAP_NET_ADMIN (IPv6 disabled on the "
                   "interface? a security module?)";
        case ENODEV:
            return "; the interface does not exist (has wireguard-go exited?)";
        default:
            return "";
    }
}

std::string errno_text(int err) {
    return std::generic_category().message(err);
}

NetlinkSocket::NetlinkSocket(int protocol, const char* name, std::chrono::milliseconds timeout)
    : name_(name),
      timeout_(timeout),
      seq_(static_cast<std::uint32_t>(std::time(nullptr))),
      buffer_(kReceiveBytes / sizeof(std::uint32_t)) {
    socket_ = mnl_socket_open2(protocol, SOCK_CLOEXEC);
    if (socket_ == nullptr) {
        throw Error(std::string("cannot open a ") + name_ + " socket: " + errno_text(errno));
    }
    int one = 1;
    // Best effort: the kernel's explanation of a refusal, without the echoed request.
    mnl_socket_setsockopt(socket_, NETLINK_EXT_ACK, &one, sizeof one);
    mnl_socket_setsockopt(socket_, NETLINK_CAP_ACK, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = timeout.count() % 1000 * 1000;
    if (setsockopt(mnl_socket_get_fd(socket_), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        mnl_socket_bind(socket_, 0, MNL_SOCKET_AUTOPID) != 0) {
        int err = errno;
        mnl_socket_close(socket_);
        throw Error(std::string("cannot set up the ") + name_ + " socket: " + errno_text(err));
    }
}

NetlinkSocket::~NetlinkSocket() {
    mnl_socket_close(socket_);
}

void NetlinkSocket::transact(nlmsghdr* request, const std::string& context,
                             std::initializer_list<int> tolerated, const Walker& walk,
                             bool keep_seq) {
    request->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    if (!keep_seq) request->nlmsg_seq = next_seq();
    if (mnl_socket_sendto(socket_, request, request->nlmsg_len) < 0) {
        throw Error(context + ": sending to " + name_ + " failed: " + errno_text(errno));
    }
    const auto deadline = Clock::now() + timeout_;
    while (true) {
        auto n = mnl_socket_recvfrom(socket_, buffer_.data(), buffer_.size() * sizeof buffer_[0]);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            throw Error(context + ": no reply from the kernel within " +
                        std::to_string(timeout_.count()) + " ms");
        }
        if (n < 0)
            throw Error(context + ": receiving from " + name_ + " failed: " + errno_text(errno));
        auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(buffer_.data()),
                               static_cast<std::size_t>(n));
        NetlinkOutcome outcome;
        try {
            outcome = walk(bytes, request->nlmsg_seq);
        } catch (const Error& e) {
            throw Error(context + ": " + e.what());
        }
        if (outcome.done) {
            if (outcome.error == 0 ||
                std::ranges::find(tolerated, outcome.error) != tolerated.end()) {
                return;
            }
            throw Error(
                context + ": " + errno_text(outcome.error) +
                (outcome.message.empty() ? "" : " (" + outcome.message + ")") +
                netlink_refusal_advice(outcome.error, has_effective_capability(CAP_NET_ADMIN)));
        }
        if (Clock::now() > deadline) {
            throw Error(context + ": the kernel's reply did not end in time");
        }
    }
}

void NetlinkSocket::transact(nlmsghdr* request, const std::string& context,
                             std::initializer_list<int> tolerated) {
    transact(request, context, tolerated,
             [](std::span<const std::uint8_t> buffer, std::uint32_t seq) {
                 return walk_replies(buffer, seq, [](const nlmsghdr&) {});
             });
}

}  // namespace mesh::kb
