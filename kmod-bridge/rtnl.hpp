#pragma once
// The few rtnetlink operations the agent needs on its tunnel interface: find it, bring it up,
// set its MTU, addresses and routes, delete it. One netlink socket per instance (not thread
// safe; use one per thread). Every request asks for an ack, every receive has a timeout, and a
// refusal becomes a mesh::Error naming the operation, the errno and the kernel's own message.
//
// Adds and deletes are idempotent: adding what is there or deleting what is not is success,
// so a restarted agent can simply re-apply its whole configuration.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/netlink_socket.hpp"
#include "kmod-bridge/rtnl_parse.hpp"

namespace mesh::kb {

class Rtnl {
  public:
    explicit Rtnl(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    Rtnl(const Rtnl&) = delete;
    Rtnl& operator=(const Rtnl&) = delete;
    ~Rtnl();

    unsigned link_index(const std::string& name);  // 0 when there is no such interface
    // The interface's index and alias; nullopt when there is no such interface.
    std::optional<LinkInfo> link(const std::string& name);
    // Sets the interface's alias (free text, at most 255 bytes, shown by `ip link`).
    void set_alias(const std::string& name, const std::string& alias);
    void set_link_up(const std::string& name);
    void set_mtu(const std::string& name, unsigned mtu);
    void delete_link(const std::string& name);  // an absent interface is fine
    // Creates a link of the given kind ("wireguard"); an existing one of that name is fine.
    // Throws mesh::Error; EOPNOTSUPP means the kernel has no such link kind (no module).
    void create_link(const std::string& name, const std::string& kind);

    // The interface's addresses with their host bits, e.g. 100.64.0.5/10, in kernel order.
    std::vector<IpPrefix> addresses(const std::string& name);
    void add_address(const std::string& name, const IpPrefix& address);  // host bits kept
    void del_address(const std::string& name, const IpPrefix& address);

    // A route in the main table through the interface (scope link for IPv4); dst is masked.
    // `protocol` (rtm_protocol) marks who made it, so routes() can find one's own again after a
    // restart: RTPROT_BOOT is what `ip route add` uses.
    void add_route(const IpPrefix& dst, const std::string& name,
                   std::uint8_t protocol = kRouteProtocolBoot);
    void del_route(const IpPrefix& dst, const std::string& name);
    // The main table's unicast routes through the interface made with `protocol`.
    std::vector<IpPrefix> routes(const std::string& name, std::uint8_t protocol);

    static constexpr std::uint8_t kRouteProtocolBoot = 3;  // RTPROT_BOOT

  private:
    using Walker = NetlinkSocket::Walker;

    // Sends request (adding NLM_F_REQUEST | NLM_F_ACK and a sequence number) and feeds the
    // replies to walk until the ack. An error in tolerated counts as success.
    void transact(nlmsghdr* request, const std::string& context,
                  std::initializer_list<int> tolerated, const Walker& walk);
    void transact(nlmsghdr* request, const std::string& context,
                  std::initializer_list<int> tolerated = {});
    unsigned require_index(const std::string& name, const std::string& context);
    void change_address(int type, const std::string& name, const IpPrefix& address);
    void change_route(int type, const IpPrefix& dst, const std::string& name,
                      std::uint8_t protocol);

    NetlinkSocket socket_;
};

}  // namespace mesh::kb
