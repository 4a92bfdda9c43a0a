#pragma once
// Pure parsing of rtnetlink replies, apart from the socket so that it can be unit-tested and
// fuzzed on arbitrary bytes. Everything here is bounded by the buffer it is given and throws
// mesh::Error (never anything else) on malformed input.
#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::kb {

// What one buffer of replies to a request said.
struct NetlinkOutcome {
    bool done = false;    // an ack, an error or the end of a dump was seen
    int error = 0;        // positive errno from an error ack, 0 otherwise
    std::string message;  // the kernel's extended-ack text, if it sent one
};

// Walks the messages of one received buffer. Messages answering another sequence number are
// stale (a request that timed out earlier) and skipped; data messages for seq go to on_message.
// Stops at the first ack, error or NLMSG_DONE.
NetlinkOutcome walk_replies(std::span<const std::uint8_t> buffer, std::uint32_t seq,
                            const std::function<void(const nlmsghdr&)>& on_message);

// The interface address carried by an RTM_NEWADDR message, host bits kept (100.64.0.5/10);
// nullopt for another interface, another message type or a family other than IPv4/IPv6.
std::optional<IpPrefix> parse_address(const nlmsghdr& message, unsigned ifindex);

// The interface index of an RTM_NEWLINK message.
unsigned parse_link_index(const nlmsghdr& message);

// What an RTM_NEWLINK message says of its interface: index and alias (IFLA_IFALIAS, the free
// text `ip link set IF alias TEXT` sets; empty when it has none).
struct LinkInfo {
    unsigned index = 0;
    std::string alias;
};
LinkInfo parse_link(const nlmsghdr& message);

// One buffer of replies to the RTM_GETADDR dump request seq: appends the addresses of ifindex
// to out and says whether the dump has ended. This is the path Rtnl::addresses takes.
NetlinkOutcome parse_address_dump(std::span<const std::uint8_t> buffer, std::uint32_t seq,
                                  unsigned ifindex, std::vector<IpPrefix>& out);

// The destination of an RTM_NEWROUTE message when it is a main-table route of `protocol`
// through ifindex (RTA_OIF); nullopt for any other route (another table, interface, protocol or
// family, a multipath route). The default route (no RTA_DST) is 0.0.0.0/0 or ::/0.
std::optional<IpPrefix> parse_route(const nlmsghdr& message, unsigned ifindex,
                                    std::uint8_t protocol);

// One buffer of replies to the RTM_GETROUTE dump request seq: appends what parse_route accepts.
NetlinkOutcome parse_route_dump(std::span<const std::uint8_t> buffer, std::uint32_t seq,
                                unsigned ifindex, std::uint8_t protocol,
                                std::vector<IpPrefix>& out);

}  // namespace mesh::kb
