#include <catch2/catch.hpp>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/turn_codec.hpp"

using namespace mesh::kb;
using namespace mesh::kb::turn;

namespace {

Message allocate_request() {
    Message m;
    m.method = Method::allocate;
    m.cls = Class::request;
    m.transaction = new_transaction();
    m.requested_transport = kTransportUdp;
    m.lifetime = 600;
    m.dont_fragment = true;
    m.username = "1767225600:n-0123456789abcdef";
    m.realm = "mesh";
    m.nonce = "3c2a9b1d5e7f";
    return m;
}

}  // namespace

TEST_CASE("TURN: a request with every attribute survives encode and decode") {
    auto m = allocate_request();
    m.peers = {Endpoint::parse("203.0.113.9:51820"), Endpoint::parse("[2001:db8::9]:4000")};
    m.channel = 0x4001;
    m.data = std::vector<std::uint8_t>{1, 2, 3, 4, 5};
    m.software = "mesh-agent";
    auto key = long_term_key(*m.username, *m.realm, "secret");
    auto bytes = encode(m, &key);
    auto back = decode(bytes);
    REQUIRE(back);
    CHECK(back->method == Method::allocate);
    CHECK(back->cls == Class::request);
    CHECK(back->transaction == m.transaction);
    CHECK(back->requested_transport == kTransportUdp);
    CHECK(back->lifetime == 600u);
    CHECK(back->dont_fragment);
    CHECK(back->peers == m.peers);
    CHECK(back->channel == 0x4001);
    CHECK(back->data == m.data);
    CHECK(back->username == m.username);
    CHECK(back->realm == m.realm);
    CHECK(back->nonce == m.nonce);
    CHECK(back->software == m.software);
    CHECK(back->has_fingerprint);
    CHECK(back->unknown_required.empty());
    CHECK(verify_integrity(bytes, *back, key));
    CHECK_FALSE(verify_integrity(bytes, *back, long_term_key(*m.username, "mesh", "other")));
}

TEST_CASE("TURN: message types carry method and class in the split bits") {
    // RFC 8656's Allocate success is 0x0103, a ChannelBind error 0x0119, a Data indication
    // 0x0017, a Send indication 0x0016.
    struct Case {
        Method method;
        Class cls;
        std::uint16_t type;
    };
    for (auto c : {Case{Method::allocate, Class::success, 0x0103},
                   Case{Method::channel_bind, Class::error, 0x0119},
                   Case{Method::data, Class::indication, 0x0017},
                   Case{Method::send, Class::indication, 0x0016},
                   Case{Method::refresh, Class::request, 0x0004},
                   Case{Method::create_permission, Class::success, 0x0108}}) {
        Message m;
        m.method = c.method;
        m.cls = c.cls;
        auto bytes = encode(m);
        CHECK((bytes[0] << 8 | bytes[1]) == c.type);
        auto back = decode(bytes);
        REQUIRE(back);
        CHECK(back->method == c.method);
        CHECK(back->cls == c.cls);
    }
}

TEST_CASE("TURN: an error answer keeps its code and reason, a changed byte breaks it") {
    Message m;
    m.method = Method::allocate;
    m.cls = Class::error;
    m.error_code = 401;
    m.error_reason = "Unauthorized";
    m.realm = "mesh";
    m.nonce = "abc";
    auto bytes = encode(m);
    auto back = decode(bytes);
    REQUIRE(back);
    CHECK(back->error_code == 401);
    CHECK(back->error_reason == "Unauthorized");
    bytes[25] ^= 1;  // inside an attribute: the fingerprint no longer verifies
    CHECK_FALSE(decode(bytes));
}

TEST_CASE("TURN: integrity covers everything before it, later attributes are ignored") {
    auto m = allocate_request();
    auto key = long_term_key(*m.username, *m.realm, "secret");
    auto bytes = encode(m, &key, /*fingerprint=*/false);
    auto back = decode(bytes);
    REQUIRE(back);
    CHECK_FALSE(back->has_fingerprint);
    CHECK(verify_integrity(bytes, *back, key));
    bytes[34] ^= 0x10;  // the LIFETIME value (attribute at 28): integrity fails
    auto changed = decode(bytes);
    REQUIRE(changed);
    CHECK_FALSE(verify_integrity(bytes, *changed, key));
}

TEST_CASE("TURN: malformed messages are refused, unknown required attributes are listed") {
    auto bytes = encode(allocate_request());
    CHECK_FALSE(decode(std::span(bytes).first(19)));
    auto wrong_length = bytes;
    wrong_length[3] += 4;
    CHECK_FALSE(decode(wrong_length));
    auto wrong_cookie = bytes;
    wrong_cookie[4] ^= 1;
    CHECK_FALSE(decode(wrong_cookie));

    // LIFETIME of 3 bytes.
    std::vector<std::uint8_t> odd = {0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42};
    odd.resize(20, 7);
    odd.insert(odd.end(), {0x00, 0x0D, 0x00, 0x03, 1, 2, 3, 0});
    CHECK_FALSE(decode(odd));

    // An unknown comprehension-required attribute (0x7777) is listed, not fatal.
    std::vector<std::uint8_t> unknown = {0x01, 0x03, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42};
    unknown.resize(20, 7);
    unknown.insert(unknown.end(), {0x77, 0x77, 0x00, 0x04, 1, 2, 3, 4});
    auto with_unknown = decode(unknown);
    REQUIRE(with_unknown);
    CHECK(with_unknown->unknown_required == std::vector<std::uint16_t>{0x7777});
}

TEST_CASE("TURN: ChannelData frames, over UDP and padded over a stream") {
    std::vector<std::uint8_t> payload = {9, 8, 7, 6, 5};
    std::vector<std::uint8_t> udp;
    encode_channel_data(0x4000, payload, udp);
    CHECK(udp.size() == 9);
    auto frame = decode_channel_data(udp);
    REQUIRE(frame);
    CHECK(frame->channel == 0x4000);
    CHECK(std::vector(frame->data.begin(), frame->data.end()) == payload);

    std::vector<std::uint8_t> stream;
    encode_channel_data(0x4fff, payload, stream, true);
    CHECK(stream.size() == 12);
    CHECK(stream_frame_size(stream) == 12u);
    CHECK(decode_channel_data(stream));
    CHECK_FALSE(decode_channel_data(std::span(stream).first(8)));  // shorter than its length
    CHECK_THROWS_AS(encode_channel_data(0x5000, payload, stream), mesh::Error);
    std::vector<std::uint8_t> low = {0x40, 0x00, 0x00, 0x00};
    low[0] = 0x7f;  // 0x7f00: outside RFC 8656's range
    CHECK_FALSE(decode_channel_data(low));
    auto stun = encode(allocate_request());
    CHECK(stream_frame_size(stun) == stun.size());
    CHECK(stream_frame_size(std::vector<std::uint8_t>{0xff, 0, 0, 0}) == 0u);
    CHECK_FALSE(stream_frame_size(std::vector<std::uint8_t>{0x40, 0}));
}

TEST_CASE("TURN REST credentials: username EXPIRY:NAME, password base64 HMAC-SHA1") {
    auto c = rest_credential("s3cret", 1767225600, "n-0123");
    CHECK(c.username == "1767225600:n-0123");
    CHECK(c.password.size() == 28);  // 20 bytes in base64
    CHECK(c.password.back() == '=');
    CHECK(rest_credential("s3cret", 1767225600, "n-0123").password == c.password);
    CHECK(rest_credential("other", 1767225600, "n-0123").password != c.password);
}

TEST_CASE("TURN encode refuses what decode would refuse") {
    auto m = allocate_request();
    m.channel = 0x3fff;
    CHECK_THROWS_AS(encode(m), mesh::Error);
    m = allocate_request();
    m.error_code = 200;
    CHECK_THROWS_AS(encode(m), mesh::Error);
    m = allocate_request();
    m.realm.reset();
    auto key = long_term_key("u", "r", "p");
    CHECK_THROWS_AS(encode(m, &key), mesh::Error);
}
