#include <catch2/catch.hpp>

#include "tests/unit/support/test_support.hpp"

#include <linux/genetlink.h>
#include <linux/wireguard.h>

#include <cstring>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/wg_genl.hpp"

using namespace mesh::kb;
using mesh::test::key_of;

namespace {

constexpr std::uint16_t kFamily = 0x1d;

Key numbered_key(std::uint32_t n) {
    Key k = key_of(0x42);
    std::memcpy(k.bytes.data(), &n, sizeof n);
    return k;
}

PeerUpdate new_peer(std::uint32_t n, int ips) {
    PeerUpdate p;
    p.public_key = numbered_key(n);
    p.replace_allowed_ips = true;
    p.endpoint = Endpoint::parse("10.0." + std::to_string(n / 250 % 250) + "." +
                                 std::to_string(n % 250 + 1) + ":51820");
    p.persistent_keepalive = 25;
    for (int i = 0; i < ips; ++i) {
        p.allowed_ips.push_back(IpPrefix::parse("10." + std::to_string(i / 250 % 250) + "." +
                                                std::to_string(i % 250) + "." +
                                                std::to_string(n % 250) + "/32"));
    }
    return p;
}

DeviceState parse_all(const std::vector<std::vector<std::uint8_t>>& messages) {
    GetDeviceParser parser;
    for (const auto& m : messages) parser.add(*reinterpret_cast<const nlmsghdr*>(m.data()));
    return parser.state();
}

struct RawAttr {
    std::uint16_t type;
    const std::uint8_t* data;
    std::size_t size;
};

std::vector<RawAttr> children(const std::uint8_t* data, std::size_t size) {
    std::vector<RawAttr> out;
    std::size_t off = 0;
    while (off + NLA_HDRLEN <= size) {
        nlattr a;
        std::memcpy(&a, data + off, sizeof a);
        REQUIRE(a.nla_len >= NLA_HDRLEN);
        REQUIRE(a.nla_len <= size - off);
        out.push_back({static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK),
                       data + off + NLA_HDRLEN, static_cast<std::size_t>(a.nla_len) - NLA_HDRLEN});
        off += NLA_ALIGN(a.nla_len);
    }
    return out;
}

std::vector<RawAttr> device_attrs(const std::vector<std::uint8_t>& message) {
    const std::size_t header = NLMSG_HDRLEN + GENL_HDRLEN;
    return children(message.data() + header, message.size() - header);
}

// The WGPEER_A_FLAGS of every peer fragment in a message, in order.
std::vector<std::uint32_t> peer_flags(const std::vector<std::uint8_t>& message) {
    std::vector<std::uint32_t> out;
    for (const auto& a : device_attrs(message)) {
        if (a.type != WGDEVICE_A_PEERS) continue;
        for (const auto& peer : children(a.data, a.size)) {
            std::uint32_t flags = 0;
            for (const auto& f : children(peer.data, peer.size)) {
                if (f.type == WGPEER_A_FLAGS) std::memcpy(&flags, f.data, sizeof flags);
            }
            out.push_back(flags);
        }
    }
    return out;
}

bool has_device_attr(const std::vector<std::uint8_t>& message, std::uint16_t type) {
    for (const auto& a : device_attrs(message)) {
        if (a.type == type) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("an empty update encodes to no message") {
    CHECK(encode_set_device({}, "wg0", kFamily, 1).empty());
}

TEST_CASE("a small update is one message and parses back") {
    DeviceUpdate u;
    u.private_key = key_of(7);
    u.listen_port = 51820;
    u.peers = {new_peer(1, 2), new_peer(2, 1)};
    PeerUpdate gone;
    gone.public_key = key_of(9);
    gone.remove = true;
    u.peers.push_back(gone);
    auto messages = encode_set_device(u, "wg0", kFamily, 100);
    REQUIRE(messages.size() == 1);
    auto* h = reinterpret_cast<const nlmsghdr*>(messages[0].data());
    CHECK(h->nlmsg_type == kFamily);
    CHECK(h->nlmsg_seq == 100);
    CHECK((h->nlmsg_flags & NLM_F_ACK) != 0);
    auto state = parse_all(messages);
    CHECK(state.private_key == key_of(7));
    CHECK(state.listen_port == 51820);
    REQUIRE(state.peers.size() == 3);
    CHECK(state.peers[0].config.endpoint == u.peers[0].endpoint);
    CHECK(state.peers[0].config.allowed_ips == u.peers[0].allowed_ips);
    CHECK(state.peers[0].config.persistent_keepalive == 25);
    CHECK(peer_flags(messages[0]) == std::vector<std::uint32_t>{WGPEER_F_REPLACE_ALLOWEDIPS,
                                                                WGPEER_F_REPLACE_ALLOWEDIPS,
                                                                WGPEER_F_REMOVE_ME});
}

TEST_CASE("10,000 peers split into bounded messages and parse back identical") {
    DeviceUpdate u;
    u.private_key = key_of(7);
    u.replace_peers = true;
    for (std::uint32_t n = 0; n < 10000; ++n) u.peers.push_back(new_peer(n, 2));
    auto messages = encode_set_device(u, "wg0", kFamily, 1);
    CHECK(messages.size() > 100);
    for (std::size_t i = 0; i < messages.size(); ++i) {
        INFO("message " << i);
        CHECK(messages[i].size() <= kGenlMessageSize);
        CHECK(has_device_attr(messages[i], WGDEVICE_A_FLAGS) == (i == 0));  // REPLACE_PEERS
        CHECK(has_device_attr(messages[i], WGDEVICE_A_PRIVATE_KEY) == (i == 0));
        CHECK(has_device_attr(messages[i], WGDEVICE_A_IFNAME));
        CHECK(reinterpret_cast<const nlmsghdr*>(messages[i].data())->nlmsg_seq == 1 + i);
    }
    auto state = parse_all(messages);
    REQUIRE(state.peers.size() == 10000);
    for (std::uint32_t n = 0; n < 10000; n += 997) {
        CHECK(state.peers[n].config.public_key == numbered_key(n));
        CHECK(state.peers[n].config.allowed_ips == u.peers[n].allowed_ips);
        CHECK(state.peers[n].config.endpoint == u.peers[n].endpoint);
    }
}

TEST_CASE("a peer with more allowed IPs than fit continues in the next message") {
    DeviceUpdate u;
    u.peers = {new_peer(1, 1), new_peer(2, 1000), new_peer(3, 1)};
    u.peers[1].update_only = true;
    auto messages = encode_set_device(u, "wg0", kFamily, 1);
    REQUIRE(messages.size() >= 3);
    // First fragment: the peer's own flags; later fragments: update-only, never replace.
    auto first = peer_flags(messages[0]);
    REQUIRE(first.size() == 2);
    CHECK(first[1] == (WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS));
    for (std::size_t i = 1; i + 1 < messages.size(); ++i) {
        CHECK(peer_flags(messages[i]).front() == WGPEER_F_UPDATE_ONLY);
    }
    auto state = parse_all(messages);
    REQUIRE(state.peers.size() == 3);
    CHECK(state.peers[1].config.allowed_ips == u.peers[1].allowed_ips);  // coalesced, in order
    CHECK(state.peers[2].config.public_key == u.peers[2].public_key);
}

TEST_CASE("the dump parser rejects malformed attributes and notices interrupted dumps") {
    DeviceUpdate u;
    u.peers = {new_peer(1, 2)};
    auto message = encode_set_device(u, "wg0", kFamily, 1).at(0);
    auto* h = reinterpret_cast<nlmsghdr*>(message.data());

    SECTION("an attribute longer than the message") {
        auto* first = reinterpret_cast<nlattr*>(message.data() + NLMSG_HDRLEN + GENL_HDRLEN);
        first->nla_len = 0xfff0;
        GetDeviceParser p;
        CHECK_THROWS_AS(p.add(*h), mesh::Error);
    }
    SECTION("a message shorter than its headers") {
        h->nlmsg_len = NLMSG_HDRLEN + 1;
        GetDeviceParser p;
        CHECK_THROWS_AS(p.add(*h), mesh::Error);
    }
    SECTION("NLM_F_DUMP_INTR") {
        h->nlmsg_flags |= NLM_F_DUMP_INTR;
        GetDeviceParser p;
        p.add(*h);
        CHECK(p.interrupted());
    }
}

TEST_CASE("get-device and get-family requests") {
    auto get = encode_get_device("mesh0", kFamily, 5);
    auto* h = reinterpret_cast<const nlmsghdr*>(get.data());
    CHECK((h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP);
    CHECK(has_device_attr(get, WGDEVICE_A_IFNAME));
    auto family = encode_get_family(6);
    CHECK(reinterpret_cast<const nlmsghdr*>(family.data())->nlmsg_type == GENL_ID_CTRL);
}
