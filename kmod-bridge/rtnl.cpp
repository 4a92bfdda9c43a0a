#include "kmod-bridge/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>
#include <system_error>

#include "kmod-bridge/error.hpp"

namespace mesh::kb {

namespace {

void check_name(const std::string& name) {
    if (name.empty() || name.size() >= IFNAMSIZ) {
        throw Error("'" + name + "' is not a valid interface name (1-15 characters)");
    }
}

// A request under construction in a fixed, aligned buffer; large enough for any request here.
class Request {
  public:
    Request(std::uint16_t type, std::uint16_t flags) {
        header_ = mnl_nlmsg_put_header(buffer_.data());
        header_->nlmsg_type = type;
        header_->nlmsg_flags = flags;
    }
    template <typename T>
    T& fixed() {
        return *static_cast<T*>(mnl_nlmsg_put_extra_header(header_, sizeof(T)));
    }
    void put(std::uint16_t type, const void* data, std::size_t size) {
        mnl_attr_put(header_, type, size, data);
    }
    void put_name(const std::string& name) {
        mnl_attr_put_strz(header_, IFLA_IFNAME, name.c_str());
    }
    nlmsghdr* header() { return header_; }

  private:
    std::array<std::uint32_t, 256> buffer_{};
    nlmsghdr* header_;
};

}  // namespace

Rtnl::Rtnl(std::chrono::milliseconds timeout) : socket_(NETLINK_ROUTE, "rtnetlink", timeout) {}

Rtnl::~Rtnl() = default;

void Rtnl::transact(nlmsghdr* request, const std::string& context,
                    std::initializer_list<int> tolerated, const Walker& walk) {
    socket_.transact(request, context, tolerated, walk);
}

void Rtnl::transact(nlmsghdr* request, const std::string& context,
                    std::initializer_list<int> tolerated) {
    socket_.transact(request, context, tolerated);
}

unsigned Rtnl::link_index(const std::string& name) {
    auto info = link(name);
    return info ? info->index : 0;
}

std::optional<LinkInfo> Rtnl::link(const std::string& name) {
    check_name(name);
    Request req(RTM_GETLINK, 0);
    req.fixed<ifinfomsg>().ifi_family = AF_UNSPEC;
    req.put_name(name);
    std::optional<LinkInfo> info;
    transact(req.header(), "looking up interface " + name, {ENODEV},
             [&](std::span<const std::uint8_t> buffer, std::uint32_t seq) {
                 return walk_replies(buffer, seq, [&](const nlmsghdr& m) { info = parse_link(m); });
             });
    return info;
}

void Rtnl::set_alias(const std::string& name, const std::string& alias) {
    check_name(name);
    if (alias.size() > 255) throw Error("an interface alias has at most 255 bytes");
    Request req(RTM_NEWLINK, 0);
    req.fixed<ifinfomsg>().ifi_family = AF_UNSPEC;
    req.put_name(name);
    mnl_attr_put_strz(req.header(), IFLA_IFALIAS, alias.c_str());
    transact(req.header(), "setting the alias of " + name);
}

unsigned Rtnl::require_index(const std::string& name, const std::string& context) {
    unsigned index = link_index(name);
    if (index == 0) throw Error(context + ": there is no interface named " + name);
    return index;
}

void Rtnl::set_link_up(const std::string& name) {
    check_name(name);
    Request req(RTM_NEWLINK, 0);
    auto& ifi = req.fixed<ifinfomsg>();
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = IFF_UP;
    req.put_name(name);
    transact(req.header(), "bringing up " + name);
}

void Rtnl::set_mtu(const std::string& name, unsigned mtu) {
    check_name(name);
    Request req(RTM_NEWLINK, 0);
    req.fixed<ifinfomsg>().ifi_family = AF_UNSPEC;
    req.put_name(name);
    std::uint32_t value = mtu;
    req.put(IFLA_MTU, &value, sizeof value);
    transact(req.header(), "setting the MTU of " + name + " to " + std::to_string(mtu));
}

void Rtnl::delete_link(const std::string& name) {
    check_name(name);
    Request req(RTM_DELLINK, 0);
    req.fixed<ifinfomsg>().ifi_family = AF_UNSPEC;
    req.put_name(name);
    transact(req.header(), "deleting interface " + name, {ENODEV});
}

void Rtnl::create_link(const std::string& name, const std::string& kind) {
    check_name(name);
    Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    req.fixed<ifinfomsg>().ifi_family = AF_UNSPEC;
    req.put_name(name);
    nlattr* info = mnl_attr_nest_start(req.header(), IFLA_LINKINFO);
    mnl_attr_put_strz(req.header(), IFLA_INFO_KIND, kind.c_str());
    mnl_attr_nest_end(req.header(), info);
    transact(req.header(), "creating " + kind + " interface " + name, {EEXIST});
}

std::vector<IpPrefix> Rtnl::addresses(const std::string& name) {
    const std::string context = "listing the addresses of " + name;
    unsigned index = require_index(name, context);
    Request req(RTM_GETADDR, NLM_F_DUMP);
    auto& ifa = req.fixed<ifaddrmsg>();
    ifa.ifa_family = AF_UNSPEC;
    ifa.ifa_index = index;
    std::vector<IpPrefix> out;
    transact(req.header(), context, {},
             [&](std::span<const std::uint8_t> buffer, std::uint32_t seq) {
                 return parse_address_dump(buffer, seq, index, out);
             });
    return out;
}

void Rtnl::change_address(int type, const std::string& name, const IpPrefix& address) {
    bool add = type == RTM_NEWADDR;
    const std::string context =
        (add ? "adding address " : "deleting address ") + address.to_string() + " on " + name;
    unsigned index = require_index(name, context);
    Request req(static_cast<std::uint16_t>(type), add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    auto& ifa = req.fixed<ifaddrmsg>();
    ifa.ifa_family = address.address.is_v4() ? AF_INET : AF_INET6;
    ifa.ifa_prefixlen = address.length;
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    ifa.ifa_index = index;
    // As `ip address add` does: without a peer, the local and the "address" are the same.
    req.put(IFA_LOCAL, address.address.bytes.data(), address.address.size());
    req.put(IFA_ADDRESS, address.address.bytes.data(), address.address.size());
    transact(req.header(), context, {add ? EEXIST : EADDRNOTAVAIL});
}

void Rtnl::add_address(const std::string& name, const IpPrefix& address) {
    change_address(RTM_NEWADDR, name, address);
}

void Rtnl::del_address(const std::string& name, const IpPrefix& address) {
    change_address(RTM_DELADDR, name, address);
}

void Rtnl::change_route(int type, const IpPrefix& dst, const std::string& name,
                        std::uint8_t protocol) {
    bool add = type == RTM_NEWROUTE;
    auto masked = dst.masked();
    const std::string context =
        (add ? "adding route " : "deleting route ") + masked.to_string() + " via " + name;
    std::uint32_t index = require_index(name, context);
    Request req(static_cast<std::uint16_t>(type), add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    auto& rt = req.fixed<rtmsg>();
    rt.rtm_family = masked.address.is_v4() ? AF_INET : AF_INET6;
    rt.rtm_dst_len = masked.length;
    rt.rtm_table = RT_TABLE_MAIN;
    if (add) {
        // What `ip route add DST dev IF` sends: a unicast route, scope link for IPv4 (the
        // destination is directly on the interface), universe for IPv6.
        rt.rtm_protocol = protocol;
        rt.rtm_type = RTN_UNICAST;
        rt.rtm_scope = masked.address.is_v4() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    } else {
        rt.rtm_scope = RT_SCOPE_NOWHERE;  // match a route of any scope, protocol and type
    }
    req.put(RTA_DST, masked.address.bytes.data(), masked.address.size());
    req.put(RTA_OIF, &index, sizeof index);
    transact(req.header(), context, {add ? EEXIST : ESRCH});
}

static_assert(Rtnl::kRouteProtocolBoot == RTPROT_BOOT);

void Rtnl::add_route(const IpPrefix& dst, const std::string& name, std::uint8_t protocol) {
    change_route(RTM_NEWROUTE, dst, name, protocol);
}

void Rtnl::del_route(const IpPrefix& dst, const std::string& name) {
    change_route(RTM_DELROUTE, dst, name, 0);
}

std::vector<IpPrefix> Rtnl::routes(const std::string& name, std::uint8_t protocol) {
    const std::string context = "listing the routes through " + name;
    unsigned index = require_index(name, context);
    std::vector<IpPrefix> out;
    for (int family : {AF_INET, AF_INET6}) {
        Request req(RTM_GETROUTE, NLM_F_DUMP);
        req.fixed<rtmsg>().rtm_family = static_cast<unsigned char>(family);
        // A host without IPv6 answers the IPv6 dump with EAFNOSUPPORT: it has no such routes.
        transact(req.header(), context, {EAFNOSUPPORT},
                 [&](std::span<const std::uint8_t> buffer, std::uint32_t seq) {
                     return parse_route_dump(buffer, seq, index, protocol, out);
                 });
    }
    return out;
}

}  // namespace mesh::kb
