// Feeds arbitrary bytes to the WireGuard generic-netlink parsers as if the kernel had sent them
// (a GET_DEVICE dump, an nlctrl answer): they may reject input only by throwing mesh::Error.
// Property: a parsed device, encoded as SET_DEVICE messages and parsed again, is unchanged.
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/rtnl_parse.hpp"
#include "kmod-bridge/wg_genl.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::kb;

namespace {

DeviceConfig config_of(const DeviceState& s) {
    DeviceConfig c;
    c.private_key = s.private_key;
    c.listen_port = s.listen_port;
    for (const auto& p : s.peers) c.peers.push_back(p.config);
    return c;
}

void round_trip(const DeviceState& state) {
    DeviceUpdate update;
    update.private_key = state.private_key;
    update.listen_port = state.listen_port;
    for (const auto& p : state.peers) {
        PeerUpdate u;
        u.public_key = p.config.public_key;
        u.endpoint = p.config.endpoint;
        if (p.config.persistent_keepalive) u.persistent_keepalive = p.config.persistent_keepalive;
        u.replace_allowed_ips = true;
        u.allowed_ips = p.config.allowed_ips;
        update.peers.push_back(u);
    }
    GetDeviceParser again;
    for (const auto& m : encode_set_device(update, "wg0", 0x20, 1)) {
        again.add(*reinterpret_cast<const nlmsghdr*>(m.data()));
    }
    FUZZ_CHECK(config_of(again.state()) == config_of(state));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::uint32_t seq = 0;
    if (size >= sizeof(nlmsghdr)) std::memcpy(&seq, data + offsetof(nlmsghdr, nlmsg_seq), 4);
    GetDeviceParser parser;
    bool parsed = true;
    try {
        walk_replies(std::span(data, size), seq, [&](const nlmsghdr& m) {
            parser.add(m);
            try {
                parse_family_id(m);
            } catch (const mesh::Error&) {
            }
        });
    } catch (const mesh::Error&) {
        parsed = false;
    }
    // Consecutive fragments of one peer are coalesced on parsing, so only dumps whose peers are
    // all distinct can round-trip exactly; and a peer must fit in one SET message.
    if (parsed && parser.state().peers.size() < 64) {
        try {
            round_trip(parser.state());
        } catch (const mesh::Error&) {
        }
    }
    return 0;
}
