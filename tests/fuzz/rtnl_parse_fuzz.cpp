// Feeds arbitrary bytes to the rtnetlink reply parser as if the kernel had sent them: it may
// reject input only by throwing mesh::Error.
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/rtnl_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Take the sequence number and interface index from the first message's header, so the
    // fuzzer need not guess them to reach the parsers behind the sequence check.
    std::uint32_t seq = 0, ifindex = 0;
    if (size >= sizeof(nlmsghdr) + 8) {
        std::memcpy(&seq, data + offsetof(nlmsghdr, nlmsg_seq), sizeof seq);
        std::memcpy(&ifindex, data + sizeof(nlmsghdr) + 4, sizeof ifindex);
    }
    std::span<const std::uint8_t> buffer(data, size);
    std::vector<mesh::kb::IpPrefix> out;
    try {
        mesh::kb::parse_address_dump(buffer, seq, ifindex, out);
    } catch (const mesh::Error&) {
    }
    try {
        // The protocol from the route message's rtmsg (its sixth byte), for the same reason.
        std::uint8_t protocol = size > sizeof(nlmsghdr) + 5 ? data[sizeof(nlmsghdr) + 5] : 0;
        std::vector<mesh::kb::IpPrefix> routes;
        mesh::kb::parse_route_dump(buffer, seq, ifindex, protocol, routes);
        for (const auto& r : routes) {
            if (r.length > r.address.max_prefix()) __builtin_trap();
        }
    } catch (const mesh::Error&) {
    }
    try {
        mesh::kb::walk_replies(buffer, seq, [](const nlmsghdr& m) {
            try {
                mesh::kb::parse_link_index(m);
                auto info = mesh::kb::parse_link(m);
                if (info.alias.size() > 256) __builtin_trap();
            } catch (const mesh::Error&) {
            }
        });
    } catch (const mesh::Error&) {
    }
    // The same bytes one byte off alignment, as a careless caller might pass them.
    if (size > 0) {
        std::vector<std::uint8_t> shifted(size + 1);
        std::memcpy(shifted.data() + 1, data, size);
        try {
            mesh::kb::parse_address_dump(std::span(shifted).subspan(1), seq, ifindex, out);
        } catch (const mesh::Error&) {
        }
    }
    return 0;
}
