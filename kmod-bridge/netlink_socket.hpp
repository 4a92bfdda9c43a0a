#pragma once
// A netlink socket (rtnetlink or generic netlink) that sends one request and walks its replies
// until the ack, with a timeout on every receive. A refusal becomes a mesh::Error naming the
// operation, the errno, the kernel's own message and, where a person can fix it, what to do.
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "kmod-bridge/rtnl_parse.hpp"

struct mnl_socket;

namespace mesh::kb {

// What to add to a refusal with errno err that a person can fix ("; ..."), or "" when there is
// nothing to say. has_net_admin: whether this process has CAP_NET_ADMIN in effect (a root
// process under a unit's CapabilityBoundingSet may not).
std::string netlink_refusal_advice(int err, bool has_net_admin);

class NetlinkSocket {
  public:
    using Walker =
        std::function<NetlinkOutcome(std::span<const std::uint8_t> buffer, std::uint32_t seq)>;

    // protocol: NETLINK_ROUTE or NETLINK_GENERIC. name is used in messages ("rtnetlink").
    NetlinkSocket(int protocol, const char* name, std::chrono::milliseconds timeout);
    NetlinkSocket(const NetlinkSocket&) = delete;
    NetlinkSocket& operator=(const NetlinkSocket&) = delete;
    ~NetlinkSocket();

    // A fresh sequence number for a request the caller builds itself.
    std::uint32_t next_seq() { return ++seq_; }
    // Sends request (adding NLM_F_REQUEST | NLM_F_ACK and, unless keep_seq, a new sequence
    // number) and feeds the replies to walk until the ack or the end of a dump. An error in
    // tolerated counts as success.
    void transact(nlmsghdr* request, const std::string& context,
                  std::initializer_list<int> tolerated, const Walker& walk, bool keep_seq = false);
    void transact(nlmsghdr* request, const std::string& context,
                  std::initializer_list<int> tolerated = {});

  private:
    mnl_socket* socket_ = nullptr;
    const char* name_;
    std::chrono::milliseconds timeout_;
    std::uint32_t seq_;
    std::vector<std::uint32_t> buffer_;  // receive buffer, 4-byte aligned as netlink needs
};

std::string errno_text(int err);

}  // namespace mesh::kb
