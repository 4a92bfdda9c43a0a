#include <catch2/catch.hpp>

#include <string>
#include "tests/unit/support/test_support.hpp"

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/uapi_codec.hpp"

using namespace mesh::kb;
using mesh::test::key_of;

namespace {

std::string hex_of(std::uint8_t n) {
    return key_of(n).to_hex();
}

// A reply as wireguard-go 0.0.20220316 writes it: device keys, then per peer the keys in this
// order, then errno.
std::string sample_reply() {
    return "private_key=" + hex_of(9) +
           "\n"
           "listen_port=51820\n"
           "fwmark=7\n"
           "public_key=" +
           hex_of(1) + "\npreshared_key=" + std::string(64, '0') +
           "\n"
           "protocol_version=1\n"
           "endpoint=192.0.2.1:51820\n"
           "last_handshake_time_sec=1700000000\n"
           "last_handshake_time_nsec=123\n"
           "tx_bytes=148\n"
           "rx_bytes=92\n"
           "persistent_keepalive_interval=25\n"
           "allowed_ip=100.64.0.1/32\n"
           "allowed_ip=fd00::/64\n"
           "public_key=" +
           hex_of(2) +
           "\n"
           "protocol_version=1\n"
           "endpoint=[2001:db8::1]:4242\n"
           "last_handshake_time_sec=0\n"
           "last_handshake_time_nsec=0\n"
           "tx_bytes=0\n"
           "rx_bytes=0\n"
           "persistent_keepalive_interval=0\n"
           "errno=0\n\n";
}

void require_rejected(const std::string& reply) {
    INFO(reply);
    CHECK_THROWS_AS(decode_get(reply), mesh::Error);
}

}  // namespace

TEST_CASE("encode_set writes only the fields an update carries") {
    DeviceUpdate u;
    CHECK(encode_set(u) == "set=1\n\n");

    u.private_key = key_of(9);
    u.listen_port = 51820;
    u.replace_peers = true;
    PeerUpdate add;
    add.public_key = key_of(1);
    add.endpoint = Endpoint::parse("[2001:db8::1]:51820");
    add.persistent_keepalive = 0;
    add.replace_allowed_ips = true;
    add.allowed_ips = {IpPrefix::parse("100.64.0.1/32"), IpPrefix::parse("fd00::/8")};
    PeerUpdate change;
    change.public_key = key_of(2);
    change.update_only = true;
    change.persistent_keepalive = 25;
    PeerUpdate remove;
    remove.public_key = key_of(3);
    remove.remove = true;
    remove.endpoint = Endpoint::parse("192.0.2.3:1");  // ignored: the peer goes away
    u.peers = {add, change, remove};

    CHECK(encode_set(u) == "set=1\nprivate_key=" + hex_of(9) +
                               "\nlisten_port=51820\nreplace_peers=true\n"
                               "public_key=" +
                               hex_of(1) +
                               "\nendpoint=[2001:db8::1]:51820\n"
                               "persistent_keepalive_interval=0\nreplace_allowed_ips=true\n"
                               "allowed_ip=100.64.0.1/32\nallowed_ip=fd00::/8\n"
                               "public_key=" +
                               hex_of(2) +
                               "\nupdate_only=true\npersistent_keepalive_interval=25\n"
                               "public_key=" +
                               hex_of(3) + "\nremove=true\n\n");
}

TEST_CASE("decode_get reads every field of a wireguard-go reply") {
    auto s = decode_get(sample_reply());
    CHECK(s.private_key == key_of(9));
    CHECK(s.listen_port == 51820);
    CHECK(s.fwmark == 7);
    REQUIRE(s.peers.size() == 2);
    const auto& p = s.peers[0];
    CHECK(p.config.public_key == key_of(1));
    CHECK(p.config.endpoint == Endpoint::parse("192.0.2.1:51820"));
    CHECK(p.config.persistent_keepalive == 25);
    CHECK(p.config.allowed_ips ==
          std::vector{IpPrefix::parse("100.64.0.1/32"), IpPrefix::parse("fd00::/64")});
    CHECK(p.last_handshake_sec == 1700000000);
    CHECK(p.last_handshake_nsec == 123);
    CHECK(p.tx_bytes == 148);
    CHECK(p.rx_bytes == 92);
    CHECK(s.peers[1].config.endpoint == Endpoint::parse("[2001:db8::1]:4242"));
    CHECK(s.peers[1].config.allowed_ips.empty());
}

TEST_CASE("decode_get: a device with nothing set") {
    auto s = decode_get("errno=0\n\n");
    CHECK(s == DeviceState{});
    // wireguard-go omits a zero key; a zero key that is sent also means "none".
    CHECK_FALSE(decode_get("private_key=" + std::string(64, '0') + "\nerrno=0\n\n").private_key);
}

TEST_CASE("encode_set and decode_get agree on every field they share") {
    DeviceUpdate u;
    u.private_key = key_of(5);
    u.listen_port = 1;
    for (std::uint8_t n = 1; n <= 3; ++n) {
        PeerUpdate p;
        p.public_key = key_of(n);
        p.endpoint = Endpoint::parse("10.0.0." + std::to_string(n) + ":6553" + std::to_string(n));
        p.persistent_keepalive = static_cast<std::uint16_t>(n * 1000);
        p.allowed_ips = {IpPrefix::parse("10.1." + std::to_string(n) + ".0/24")};
        u.peers.push_back(p);
    }
    // Turn the request into the reply a device holding exactly that would send.
    auto text = encode_set(u);
    text = text.substr(6, text.size() - 7);  // strip "set=1\n" and the blank line
    auto s = decode_get(text + "errno=0\n\n");
    CHECK(s.private_key == u.private_key);
    CHECK(s.listen_port == *u.listen_port);
    REQUIRE(s.peers.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(s.peers[i].config.public_key == u.peers[i].public_key);
        CHECK(s.peers[i].config.endpoint == u.peers[i].endpoint);
        CHECK(s.peers[i].config.persistent_keepalive == *u.peers[i].persistent_keepalive);
        CHECK(s.peers[i].config.allowed_ips == u.peers[i].allowed_ips);
    }
}

TEST_CASE("decode_get keeps allowed IPs masked, as devices store them") {
    auto s = decode_get("public_key=" + hex_of(1) + "\nallowed_ip=10.1.2.3/8\nerrno=0\n\n");
    CHECK(s.peers.at(0).config.allowed_ips == std::vector{IpPrefix::parse("10.0.0.0/8")});
}

TEST_CASE("decode_get turns a non-zero errno into an error naming it") {
    CHECK_THROWS_WITH(decode_get("errno=-22\n\n"),
                      Catch::Contains("errno=-22") && Catch::Contains("Invalid argument"));
    CHECK_THROWS_AS(decode_get("errno=5\n\n"), mesh::Error);
}

TEST_CASE("decode_get rejects truncated replies") {
    auto full = sample_reply();
    // Every proper prefix is either truncated or missing its errno: none may be accepted.
    for (std::size_t n = 0; n < full.size(); ++n) require_rejected(full.substr(0, n));
}

TEST_CASE("decode_get rejects malformed lines") {
    auto peer = "public_key=" + hex_of(1) + "\n";
    for (const std::string& bad : {
             std::string("listen_port=65536\n"),
             std::string("listen_port=-1\n"),
             std::string("listen_port=\n"),
             std::string("listen_port=1x\n"),
             std::string("listen_port=1\nlisten_port=2\n"),
             std::string("fwmark=4294967296\n"),
             std::string("private_key=abc\n"),
             std::string("private_key=" + std::string(64, 'g') + "\n"),
             std::string("no_equals_sign\n"),
             std::string("=value\n"),
             std::string("frobnicate=1\n"),
             std::string("public_key=\n"),
             peer + "endpoint=192.0.2.1\n",
             peer + "endpoint=[fe80::1%eth0]:1\n",
             peer + "endpoint=1.2.3.4:1\nendpoint=1.2.3.4:2\n",
             peer + "allowed_ip=10.0.0.0/33\n",
             peer + "allowed_ip=not-an-ip\n",
             peer + "protocol_version=2\n",
             peer + "last_handshake_time_nsec=1000000000\n",
             peer + "last_handshake_time_sec=-5\n",
             peer + "tx_bytes=18446744073709551616\n",
             peer + "persistent_keepalive_interval=70000\n",
             peer + "preshared_key=zz\n",
             peer + "listen_port=1\n",  // a device key inside a peer
             peer + peer,               // the same peer twice
             peer + "frobnicate=1\n",
         }) {
        require_rejected(bad + "errno=0\n\n");
    }
}

TEST_CASE("decode_get rejects anything around the errno line") {
    require_rejected("errno=0\n");
    require_rejected("errno=0\n\nextra");
    require_rejected("errno=0\n\n\n");
    require_rejected("errno=0\nlisten_port=1\n\n");
    require_rejected("errno=0\nerrno=0\n\n");
    require_rejected("errno=zero\n\n");
    require_rejected("\n");
    require_rejected("");
    require_rejected("listen_port=1\n\n");
}

TEST_CASE("decode_get enforces its size bounds") {
    require_rejected("fwmark=" + std::string(kUapiMaxLineBytes, '1') + "\nerrno=0\n\n");
    std::string huge;
    huge.reserve(kUapiMaxReplyBytes + 16);
    while (huge.size() <= kUapiMaxReplyBytes) huge += "x=1\n";
    CHECK_THROWS_WITH(decode_get(huge + "errno=0\n\n"), Catch::Contains("limit"));
}

TEST_CASE("decode_get keeps nul bytes and control characters out of error messages") {
    std::string bad("fr\0b\x1b[31m=1\nerrno=0\n\n", 20);
    try {
        decode_get(bad);
        FAIL("accepted");
    } catch (const mesh::Error& e) {
        std::string message = e.what();
        CHECK(message.find('\0') == std::string::npos);
        CHECK(message.find('\x1b') == std::string::npos);
    }
}

TEST_CASE("decode_errno reads the reply to a set") {
    CHECK(decode_errno("errno=0\n\n") == 0);
    CHECK(decode_errno("errno=-22\n\n") == -22);
    CHECK(decode_errno("errno=1\n\n") == 1);
    for (std::string bad :
         {"", "errno=0\n", "errno=0", "\n", "errno=\n\n", "errno=0\n\nx",
          "listen_port=1\nerrno=0\n\n", "errno=0\nerrno=0\n\n", "errno=99999999999\n\n"}) {
        INFO(bad);
        CHECK_THROWS_AS(decode_errno(bad), mesh::Error);
    }
    CHECK(describe_errno(-22) == "errno=-22 (Invalid argument)");
}
