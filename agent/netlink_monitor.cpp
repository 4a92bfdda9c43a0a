#include "agent/netlink_monitor.hpp"

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

namespace {

// The interface an event is about; 0 when it names none.
unsigned event_interface(const nlmsghdr* h) {
    switch (h->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return 0;
            return static_cast<unsigned>(static_cast<const ifinfomsg*>(NLMSG_DATA(h))->ifi_index);
        case RTM_NEWADDR:
        case RTM_DELADDR:
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return 0;
            return static_cast<const ifaddrmsg*>(NLMSG_DATA(h))->ifa_index;
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return 0;
            auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
            int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(rtmsg)));
            for (auto* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) {
                    int oif;
                    std::memcpy(&oif, RTA_DATA(a), sizeof oif);
                    return static_cast<unsigned>(oif);
                }
            }
            return 0;
        }
        default:
            return 0;
    }
}

bool is_network_event(std::uint16_t type) {
    return type == RTM_NEWLINK || type == RTM_DELLINK || type == RTM_NEWADDR ||
           type == RTM_DELADDR || type == RTM_NEWROUTE || type == RTM_DELROUTE;
}

}  // namespace

NetlinkMonitor::NetlinkMonitor(std::string ignored_interface)
    : ignored_(std::move(ignored_interface)) {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd_ < 0) throw Error(std::string("cannot open rtnetlink: ") + std::strerror(errno));
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                     RTMGRP_IPV6_ROUTE;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        ::close(fd_);
        throw Error(std::string("cannot subscribe to rtnetlink events: ") + std::strerror(e));
    }
}

NetlinkMonitor::~NetlinkMonitor() {
    ::close(fd_);
}

bool NetlinkMonitor::drain() {
    // Looked up per drain: the mesh interface may be created or re-created after we started.
    unsigned ignored = ignored_.empty() ? 0 : ::if_nametoindex(ignored_.c_str());
    bool changed = false;
    alignas(nlmsghdr) char buf[16384];
    while (true) {
        ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS) {  // overflowed: events were lost, assume a change
                changed = true;
                continue;
            }
            return changed;
        }
        int len = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (!is_network_event(h->nlmsg_type)) continue;
            unsigned index = event_interface(h);
            if (ignored != 0 && index == ignored) continue;
            changed = true;
        }
    }
}

}  // namespace mesh::agent
