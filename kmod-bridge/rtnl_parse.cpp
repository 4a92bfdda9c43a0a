#include "kmod-bridge/rtnl_parse.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include "kmod-bridge/error.hpp"

namespace mesh::kb {

namespace {

constexpr std::size_t kMaxAliasBytes = 256;  // IFALIASZ

// The fixed header at the start of a message's payload, after checking that it is there.
template <typename T>
const T& fixed_header(const nlmsghdr& message, const char* what) {
    if (mnl_nlmsg_get_payload_len(&message) < sizeof(T)) {
        throw Error(std::string("netlink ") + what + " message is too short for its header");
    }
    return *static_cast<const T*>(mnl_nlmsg_get_payload(&message));
}

// Calls f for each well-formed attribute in [begin, begin + size); stops at the first one that
// does not fit, as the kernel's own nla_for_each_attr does.
template <typename F>
void for_each_attribute(const void* begin, std::size_t size, F&& f) {
    if (size > INT_MAX || reinterpret_cast<std::uintptr_t>(begin) % MNL_ALIGNTO != 0) return;
    const auto* attr = static_cast<const nlattr*>(begin);
    int left = static_cast<int>(size);
    while (mnl_attr_ok(attr, left)) {
        f(*attr);
        left -= static_cast<int>(MNL_ALIGN(attr->nla_len));
        attr = mnl_attr_next(attr);
    }
}

// Calls f for each attribute after the message's fixed header T; false (and no call) when the
// payload is too short to hold T.
template <typename T, typename F>
bool for_each_attribute_after(const nlmsghdr& message, F&& f) {
    const auto* base = static_cast<const char*>(mnl_nlmsg_get_payload(&message));
    std::size_t header = MNL_ALIGN(sizeof(T));
    std::size_t payload = mnl_nlmsg_get_payload_len(&message);
    if (payload < header) return false;
    for_each_attribute(base + header, payload - header, std::forward<F>(f));
    return true;
}

// The NLMSGERR_ATTR_MSG text of an error or ack message sent with NETLINK_EXT_ACK.
std::string extended_ack_text(const nlmsghdr& message, const nlmsgerr& err) {
    if (!(message.nlmsg_flags & NLM_F_ACK_TLVS)) return {};
    std::size_t offset = sizeof(nlmsgerr);
    if (!(message.nlmsg_flags & NLM_F_CAPPED)) {
        if (err.msg.nlmsg_len < sizeof(nlmsghdr)) return {};
        offset += err.msg.nlmsg_len - sizeof(nlmsghdr);  // the echoed request
    }
    std::size_t payload = mnl_nlmsg_get_payload_len(&message);
    if (offset > payload) return {};
    std::string text;
    const auto* base = static_cast<const char*>(mnl_nlmsg_get_payload(&message));
    for_each_attribute(base + offset, payload - offset, [&](const nlattr& attr) {
        if (mnl_attr_get_type(&attr) != NLMSGERR_ATTR_MSG) return;
        const auto* s = static_cast<const char*>(mnl_attr_get_payload(&attr));
        std::size_t n = mnl_attr_get_payload_len(&attr);
        text.clear();
        for (std::size_t i = 0; i < n && s[i] != '\0' && text.size() < 200; ++i) {
            text.push_back(s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
        }
    });
    return text;
}

NetlinkOutcome error_outcome(const nlmsghdr& message) {
    const auto& err = fixed_header<nlmsgerr>(message, "error");
    NetlinkOutcome out;
    out.done = true;
    // The kernel sends -errno; anything else positive is nonsense we still must not trust.
    out.error = err.error < 0 && err.error > -4096 ? -err.error : (err.error == 0 ? 0 : EPROTO);
    out.message = extended_ack_text(message, err);
    return out;
}

// One message of the walk: nullopt to go on, an outcome when the reply has ended.
std::optional<NetlinkOutcome> dispatch(const nlmsghdr& message, std::uint32_t seq,
                                       const std::function<void(const nlmsghdr&)>& on_message) {
    if (message.nlmsg_seq != seq) return std::nullopt;  // stale: an earlier request's reply
    if (message.nlmsg_flags & NLM_F_DUMP_INTR) {
        throw Error("the kernel's list changed during the dump; retry");
    }
    switch (message.nlmsg_type) {
        case NLMSG_NOOP:
            return std::nullopt;
        case NLMSG_ERROR:
            return error_outcome(message);
        case NLMSG_OVERRUN:
            throw Error("netlink reported an overrun: replies were lost");
        case NLMSG_DONE: {
            NetlinkOutcome out;
            out.done = true;
            int status = 0;
            if (mnl_nlmsg_get_payload_len(&message) >= sizeof status) {
                std::memcpy(&status, mnl_nlmsg_get_payload(&message), sizeof status);
            }
            if (status < 0) out.error = status > -4096 ? -status : EPROTO;
            return out;
        }
        default:
            on_message(message);
            return std::nullopt;
    }
}

}  // namespace

NetlinkOutcome walk_replies(std::span<const std::uint8_t> buffer, std::uint32_t seq,
                            const std::function<void(const nlmsghdr&)>& on_message) {
    if (buffer.size() > INT_MAX) throw Error("netlink buffer is too large");
    // Netlink messages are 4-byte aligned; copy an oddly placed buffer rather than misread it.
    std::vector<std::uint32_t> aligned;
    const void* start = buffer.data();
    if (reinterpret_cast<std::uintptr_t>(start) % alignof(nlmsghdr) != 0) {
        aligned.resize((buffer.size() + 3) / 4);
        std::memcpy(aligned.data(), buffer.data(), buffer.size());
        start = aligned.data();
    }
    // Not mnl_nlmsg_ok/mnl_nlmsg_next: they compare nlmsg_len as a signed int, so a length
    // near 2^32 passes the check and then aligns to 0, and the walk never advances (found by
    // rtnl_parse_fuzz).
    const auto* base = static_cast<const std::uint8_t*>(start);
    const std::size_t size = buffer.size();
    std::size_t offset = 0;
    while (size - offset >= sizeof(nlmsghdr)) {
        const auto* message = reinterpret_cast<const nlmsghdr*>(base + offset);
        if (message->nlmsg_len < sizeof(nlmsghdr) || message->nlmsg_len > size - offset) {
            throw Error("netlink message length " + std::to_string(message->nlmsg_len) +
                        " does not fit the " + std::to_string(size - offset) + " bytes left");
        }
        offset = std::min<std::size_t>(size, offset + MNL_ALIGN(std::size_t{message->nlmsg_len}));
        if (auto outcome = dispatch(*message, seq, on_message)) return *outcome;
    }
    if (offset != size) throw Error("netlink reply ends with a truncated message");
    return {};
}

std::optional<IpPrefix> parse_address(const nlmsghdr& message, unsigned ifindex) {
    if (message.nlmsg_type != RTM_NEWADDR) return std::nullopt;
    const auto& ifa = fixed_header<ifaddrmsg>(message, "RTM_NEWADDR");
    if (ifa.ifa_index != ifindex) return std::nullopt;
    if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return std::nullopt;

    IpPrefix prefix;
    prefix.address.family =
        ifa.ifa_family == AF_INET ? IpAddress::Family::v4 : IpAddress::Family::v6;
    if (ifa.ifa_prefixlen > prefix.address.max_prefix()) {
        throw Error("RTM_NEWADDR prefix length " + std::to_string(ifa.ifa_prefixlen) +
                    " is too long for its family");
    }
    prefix.length = ifa.ifa_prefixlen;
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point
    // links, and the only one sent for IPv6 without a peer.
    const nlattr* local = nullptr;
    const nlattr* address = nullptr;
    bool attributes = for_each_attribute_after<ifaddrmsg>(message, [&](const nlattr& attr) {
        if (mnl_attr_get_type(&attr) == IFA_LOCAL) local = &attr;
        if (mnl_attr_get_type(&attr) == IFA_ADDRESS) address = &attr;
    });
    if (!attributes) return std::nullopt;
    const nlattr* chosen = local ? local : address;
    if (chosen == nullptr) throw Error("RTM_NEWADDR message carries no address");
    if (mnl_attr_get_payload_len(chosen) != prefix.address.size()) {
        throw Error("RTM_NEWADDR address attribute has the wrong length for its family");
    }
    std::memcpy(prefix.address.bytes.data(), mnl_attr_get_payload(chosen), prefix.address.size());
    return prefix;
}

unsigned parse_link_index(const nlmsghdr& message) {
    return parse_link(message).index;
}

LinkInfo parse_link(const nlmsghdr& message) {
    if (message.nlmsg_type != RTM_NEWLINK) throw Error("expected an RTM_NEWLINK reply");
    int index = fixed_header<ifinfomsg>(message, "RTM_NEWLINK").ifi_index;
    if (index <= 0) throw Error("RTM_NEWLINK reply carries no interface index");
    LinkInfo info;
    info.index = static_cast<unsigned>(index);
    for_each_attribute_after<ifinfomsg>(message, [&](const nlattr& attr) {
        if (mnl_attr_get_type(&attr) != IFLA_IFALIAS) return;
        const char* text = static_cast<const char*>(mnl_attr_get_payload(&attr));
        std::size_t n = mnl_attr_get_payload_len(&attr);
        // NUL-terminated by the kernel; bounded by the attribute either way.
        info.alias.assign(text, strnlen(text, std::min<std::size_t>(n, kMaxAliasBytes)));
    });
    return info;
}

NetlinkOutcome parse_address_dump(std::span<const std::uint8_t> buffer, std::uint32_t seq,
                                  unsigned ifindex, std::vector<IpPrefix>& out) {
    return walk_replies(buffer, seq, [&](const nlmsghdr& message) {
        if (auto prefix = parse_address(message, ifindex)) out.push_back(*prefix);
    });
}

std::optional<IpPrefix> parse_route(const nlmsghdr& message, unsigned ifindex,
                                    std::uint8_t protocol) {
    if (message.nlmsg_type != RTM_NEWROUTE) return std::nullopt;
    const auto& rt = fixed_header<rtmsg>(message, "RTM_NEWROUTE");
    if (rt.rtm_family != AF_INET && rt.rtm_family != AF_INET6) return std::nullopt;
    if (rt.rtm_protocol != protocol || rt.rtm_type != RTN_UNICAST) return std::nullopt;
    IpPrefix prefix;
    prefix.address.family =
        rt.rtm_family == AF_INET ? IpAddress::Family::v4 : IpAddress::Family::v6;
    if (rt.rtm_dst_len > prefix.address.max_prefix()) {
        throw Error("RTM_NEWROUTE destination length " + std::to_string(rt.rtm_dst_len) +
                    " is too long for its family");
    }
    prefix.length = rt.rtm_dst_len;
    std::uint32_t table = rt.rtm_table;
    const nlattr* dst = nullptr;
    std::optional<std::uint32_t> oif;
    bool attributes = for_each_attribute_after<rtmsg>(message, [&](const nlattr& attr) {
        auto type = mnl_attr_get_type(&attr);
        bool u32 = mnl_attr_get_payload_len(&attr) == sizeof(std::uint32_t);
        if (type == RTA_DST) dst = &attr;
        if (type == RTA_OIF && u32) oif = mnl_attr_get_u32(&attr);
        if (type == RTA_TABLE && u32) table = mnl_attr_get_u32(&attr);  // tables above 255
    });
    if (!attributes) return std::nullopt;
    if (table != RT_TABLE_MAIN || oif != ifindex) return std::nullopt;
    if (dst != nullptr) {
        if (mnl_attr_get_payload_len(dst) != prefix.address.size()) {
            throw Error("RTM_NEWROUTE destination has the wrong length for its family");
        }
        std::memcpy(prefix.address.bytes.data(), mnl_attr_get_payload(dst), prefix.address.size());
    } else if (prefix.length != 0) {
        throw Error("RTM_NEWROUTE message has a destination length but no destination");
    }
    return prefix.masked();
}

NetlinkOutcome parse_route_dump(std::span<const std::uint8_t> buffer, std::uint32_t seq,
                                unsigned ifindex, std::uint8_t protocol,
                                std::vector<IpPrefix>& out) {
    return walk_replies(buffer, seq, [&](const nlmsghdr& message) {
        if (auto prefix = parse_route(message, ifindex, protocol)) out.push_back(*prefix);
    });
}

}  // namespace mesh::kb
