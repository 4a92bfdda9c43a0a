#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/stun.hpp"
#include "tests/unit/support/crc32_oracle.hpp"

using namespace mesh::kb;
using namespace mesh::kb::stun;

namespace {

using Bytes = std::vector<std::uint8_t>;

// The transaction id of the RFC 5769 test vectors.
const TransactionId kRfcTransaction = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                       0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

IntegrityKey key_of(std::uint8_t n) {
    IntegrityKey k;
    k.fill(n);
    return k;
}

using mesh::test::crc32;

void set_length(Bytes& p, std::size_t length) {
    p[2] = static_cast<std::uint8_t>(length >> 8);
    p[3] = static_cast<std::uint8_t>(length);
}

// Builds raw messages attribute by attribute, the header's length always matching.
struct Raw {
    Bytes bytes;

    explicit Raw(std::uint16_t type = 0x0101, const TransactionId& id = kRfcTransaction) {
        bytes = {static_cast<std::uint8_t>(type >> 8),
                 static_cast<std::uint8_t>(type),
                 0,
                 0,
                 0x21,
                 0x12,
                 0xa4,
                 0x42};
        for (std::uint8_t b : id) bytes.push_back(b);  // (insert trips GCC 12's -Warray-bounds)
    }
    Raw& attr(std::uint16_t type, const Bytes& value, std::uint8_t pad = 0) {
        bytes.push_back(static_cast<std::uint8_t>(type >> 8));
        bytes.push_back(static_cast<std::uint8_t>(type));
        bytes.push_back(static_cast<std::uint8_t>(value.size() >> 8));
        bytes.push_back(static_cast<std::uint8_t>(value.size()));
        bytes.insert(bytes.end(), value.begin(), value.end());
        while (bytes.size() % 4 != 0) bytes.push_back(pad);
        set_length(bytes, bytes.size() - kHeaderSize);
        return *this;
    }
    // A FINGERPRINT computed as if `after` more bytes of attributes followed it.
    Raw& fingerprint(std::size_t after = 0) {
        set_length(bytes, bytes.size() - kHeaderSize + 8 + after);
        const std::uint32_t f = crc32(bytes.data(), bytes.size()) ^ 0x5354554e;
        return attr(0x8028, {static_cast<std::uint8_t>(f >> 24), static_cast<std::uint8_t>(f >> 16),
                             static_cast<std::uint8_t>(f >> 8), static_cast<std::uint8_t>(f)});
    }
};

// An encoded message without its FINGERPRINT (the last 8 bytes), as a peer may send it: lets a
// test alter bytes without the fingerprint refusing the message first.
Bytes without_fingerprint(Bytes p) {
    REQUIRE(p.size() >= kHeaderSize + 8);
    p.erase(p.end() - 8, p.end());  // not resize(): GCC 12 with -fsanitize sees a huge memset
    set_length(p, p.size() - kHeaderSize);
    return p;
}

Message success(const std::string& endpoint) {
    Message m;
    m.type = Type::binding_success;
    m.transaction = kRfcTransaction;
    m.mapped = Endpoint::parse(endpoint);
    return m;
}

// What decode adds to an encoded message: the FINGERPRINT that verified.
Message as_decoded(Message m) {
    m.has_fingerprint = true;
    return m;
}

// RFC 5769 section 2.1, "Sample request": SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME padded
// with spaces, MESSAGE-INTEGRITY (SHA-1), FINGERPRINT.
const Bytes kRfcRequest = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

// RFC 5769 section 2.2, "Sample IPv4 response": SOFTWARE, XOR-MAPPED-ADDRESS,
// MESSAGE-INTEGRITY (SHA-1), FINGERPRINT.
const Bytes kRfcIpv4Response = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

// RFC 5769 section 2.3, "Sample IPv6 response".
const Bytes kRfcIpv6Response = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

}  // namespace

TEST_CASE("stun: the test CRC-32 is zlib's", "[stun]") {
    const std::string check = "123456789";
    REQUIRE(crc32(reinterpret_cast<const std::uint8_t*>(check.data()), check.size()) == 0xCBF43926);
}

TEST_CASE("stun: a plain binding request is a header and a FINGERPRINT", "[stun]") {
    Message request;
    request.transaction = kRfcTransaction;
    const Bytes bytes = encode(request);
    REQUIRE(bytes.size() == kHeaderSize + 8);
    REQUIRE(Bytes(bytes.begin(), bytes.begin() + 8) ==
            Bytes{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42});
    REQUIRE(Bytes(bytes.begin() + 20, bytes.begin() + 24) == Bytes{0x80, 0x28, 0x00, 0x04});
    REQUIRE(looks_like_stun(bytes));
    const auto decoded = decode(bytes);
    REQUIRE(decoded);
    REQUIRE(*decoded == as_decoded(request));
    REQUIRE_FALSE(decoded->integrity_offset);
}

TEST_CASE("stun: XOR-MAPPED-ADDRESS round-trips as the RFC 5769 vectors write it", "[stun]") {
    SECTION("IPv4") {
        const Message m = success("192.0.2.1:32853");
        const Bytes bytes = encode(m);
        REQUIRE(Bytes(bytes.begin() + 20, bytes.begin() + 32) ==
                Bytes(kRfcIpv4Response.begin() + 36, kRfcIpv4Response.begin() + 48));
        REQUIRE(decode(bytes) == as_decoded(m));
    }
    SECTION("IPv6") {
        const Message m = success("[2001:db8:1234:5678:11:2233:4455:6677]:32853");
        const Bytes bytes = encode(m);
        REQUIRE(Bytes(bytes.begin() + 20, bytes.begin() + 44) ==
                Bytes(kRfcIpv6Response.begin() + 36, kRfcIpv6Response.begin() + 60));
        REQUIRE(decode(bytes) == as_decoded(m));
    }
    SECTION("port 0 and the zero address") {
        Message m = success("192.0.2.1:1");
        m.mapped = Endpoint{IpAddress::v4(0), 0};  // Endpoint::parse refuses port 0
        REQUIRE(decode(encode(m)) == as_decoded(m));
    }
    SECTION("with a key, an IPv6 address and a username") {
        Message m = success("[2001:db8::1]:51820");
        m.username = "n-0000000000000001:probe";
        const IntegrityKey key = key_of(7);
        const Bytes bytes = encode(m, &key);
        auto decoded = decode(bytes);
        REQUIRE(decoded);
        REQUIRE(decoded->integrity_offset == bytes.size() - 8 - 36);
        REQUIRE(verify_integrity(bytes, *decoded, key));
        REQUIRE(decoded->has_fingerprint);
        decoded->integrity_offset.reset();
        decoded->integrity = {};
        REQUIRE(*decoded == as_decoded(m));
    }
}

TEST_CASE("stun: encode is deterministic and re-encodes what it decodes", "[stun]") {
    Message m = success("198.51.100.7:4242");
    m.username = "user";
    const IntegrityKey key = key_of(1);
    const Bytes once = encode(m, &key);
    REQUIRE(encode(m, &key) == once);
    REQUIRE(encode(*decode(once), &key) == once);
    REQUIRE(encode(*decode(once)) == encode(m));
}

TEST_CASE("stun: USERNAME up to 513 bytes, padding not read", "[stun]") {
    Message m;
    for (std::size_t size : {0, 1, 3, 4, 5, 513}) {
        m.username = std::string(size, 'u');
        REQUIRE(decode(encode(m)) == as_decoded(m));
    }
    m.username = std::string(514, 'u');
    REQUIRE_THROWS_AS(encode(m), mesh::Error);
    REQUIRE_FALSE(decode(Raw(0x0001).attr(0x0006, Bytes(514, 'u')).bytes));
    const auto spaced = decode(Raw(0x0001).attr(0x0006, {'a', 'b'}, ' ').bytes);
    REQUIRE(spaced);
    REQUIRE(spaced->username == "ab");
}

TEST_CASE("stun: MESSAGE-INTEGRITY-SHA256 verifies only with the key and the bytes", "[stun]") {
    Message m;
    m.transaction = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    m.username = "abc:def";
    const IntegrityKey key = key_of(0x42);
    const Bytes bytes = encode(m, &key);
    const auto decoded = decode(bytes);
    REQUIRE(decoded);
    REQUIRE(decoded->integrity_offset == 20 + 12);
    REQUIRE(verify_integrity(bytes, *decoded, key));

    SECTION("a wrong key fails") {
        REQUIRE_FALSE(verify_integrity(bytes, *decoded, key_of(0x43)));
        IntegrityKey one_bit = key;
        one_bit[31] ^= 1;
        REQUIRE_FALSE(verify_integrity(bytes, *decoded, one_bit));
    }
    SECTION("any flipped byte fails the FINGERPRINT") {
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            Bytes altered = bytes;
            altered[i] ^= 0x01;
            INFO("flipped byte " << i);
            // Flipped in the FINGERPRINT's type, it is an unknown attribute, not a FINGERPRINT.
            const bool in_type = i == bytes.size() - 8 || i == bytes.size() - 7;
            REQUIRE(decode(altered).has_value() == in_type);
            if (in_type) REQUIRE_FALSE(decode(altered)->has_fingerprint);
        }
    }
    SECTION("without a FINGERPRINT, any flipped byte fails the integrity") {
        const Bytes bare = without_fingerprint(bytes);
        const auto unaltered = decode(bare);
        REQUIRE(unaltered);
        REQUIRE_FALSE(unaltered->has_fingerprint);
        REQUIRE(verify_integrity(bare, *unaltered, key));
        for (std::size_t i = 0; i < bare.size(); ++i) {
            Bytes altered = bare;
            altered[i] ^= 0x80;
            const auto again = decode(altered);
            if (again) REQUIRE_FALSE(verify_integrity(altered, *again, key));
        }
    }
    SECTION("a message without the attribute, or from another packet, fails") {
        REQUIRE_FALSE(verify_integrity(encode(m), *decode(encode(m)), key));
        REQUIRE_FALSE(verify_integrity(Bytes(bytes.begin(), bytes.begin() + 40), *decoded, key));
        Message elsewhere = *decoded;
        elsewhere.integrity_offset = 20;  // the USERNAME's header
        REQUIRE_FALSE(verify_integrity(bytes, elsewhere, key));
        elsewhere.integrity_offset = 3;
        REQUIRE_FALSE(verify_integrity(bytes, elsewhere, key));
    }
}

TEST_CASE("stun: RFC 5769 sample request", "[stun]") {
    const auto m = decode(kRfcRequest);
    REQUIRE(m);
    REQUIRE(m->type == Type::binding_request);
    REQUIRE(m->transaction == kRfcTransaction);
    REQUIRE(m->username == "evtj:h6vY");
    REQUIRE_FALSE(m->mapped);
    REQUIRE(m->has_fingerprint);
    REQUIRE_FALSE(m->integrity_offset);  // its MESSAGE-INTEGRITY is SHA-1: skipped
}

TEST_CASE("stun: RFC 5769 sample responses", "[stun]") {
    SECTION("IPv4") {
        const auto m = decode(kRfcIpv4Response);
        REQUIRE(m);
        REQUIRE(m->type == Type::binding_success);
        REQUIRE(m->mapped == Endpoint::parse("192.0.2.1:32853"));
        REQUIRE(m->has_fingerprint);
    }
    SECTION("IPv6") {
        const auto m = decode(kRfcIpv6Response);
        REQUIRE(m);
        REQUIRE(m->mapped == Endpoint::parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853"));
        REQUIRE(m->has_fingerprint);
    }
    SECTION("a flipped bit anywhere is refused by the FINGERPRINT") {
        for (std::size_t i = 0; i < kRfcIpv4Response.size(); ++i) {
            Bytes altered = kRfcIpv4Response;
            altered[i] ^= 0x04;
            const auto m = decode(altered);
            REQUIRE((!m || !m->has_fingerprint));  // or the FINGERPRINT's type was altered
        }
    }
}

TEST_CASE("stun: truncated, over-long and garbage input is refused", "[stun]") {
    const Bytes good = kRfcIpv4Response;
    SECTION("every truncation, with and without a matching length") {
        for (std::size_t size = 0; size < good.size(); ++size) {
            Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(size));
            REQUIRE_FALSE(decode(cut));
            if (size >= kHeaderSize) {
                set_length(cut, size - kHeaderSize);
                const auto m = decode(cut);
                // Cut at an attribute's end, it is a message without FINGERPRINT.
                REQUIRE(m.has_value() == (size == 20 || size == 36 || size == 48 || size == 72));
                if (m) REQUIRE_FALSE(m->has_fingerprint);
            }
        }
    }
    SECTION("bytes after the message") {
        Bytes longer = good;
        longer.insert(longer.end(), 4, 0);
        REQUIRE_FALSE(decode(longer));
    }
    SECTION("the header") {
        Bytes b = good;
        b[0] |= 0x80;
        REQUIRE_FALSE(looks_like_stun(b));
        REQUIRE_FALSE(decode(b));
        b = good;
        b[4] = 0x22;
        REQUIRE_FALSE(looks_like_stun(b));
        REQUIRE_FALSE(decode(b));
        REQUIRE_FALSE(looks_like_stun(Bytes(good.begin(), good.begin() + 19)));
        REQUIRE(looks_like_stun(Bytes(good.begin(), good.begin() + 20)));
    }
    SECTION("a length that is not a multiple of 4") {
        Raw r(0x0001);
        r.bytes.push_back(0);
        r.bytes.push_back(0);
        set_length(r.bytes, 2);
        REQUIRE_FALSE(decode(r.bytes));
    }
    SECTION("types other than the Binding request and responses") {
        for (std::uint16_t type : {0x0000, 0x0002, 0x0011, 0x0102, 0x0110, 0x0003, 0x3fff}) {
            REQUIRE_FALSE(decode(Raw(type).fingerprint().bytes));
        }
        for (std::uint16_t type : {0x0001, 0x0101, 0x0111}) {
            REQUIRE(decode(Raw(type).fingerprint().bytes));
        }
        Message m;
        m.type = static_cast<Type>(0x0011);
        REQUIRE_THROWS_AS(encode(m), mesh::Error);
    }
    SECTION("an attribute running past the end") {
        Raw r(0x0001);
        r.attr(0x8022, {'a', 'b', 'c', 'd'});
        r.bytes[23] = 8;  // claims 8 bytes, has 4
        REQUIRE_FALSE(decode(r.bytes));
        r.bytes[23] = 5;  // its padding would run past the end
        REQUIRE_FALSE(decode(r.bytes));
        r.bytes[23] = 4;
        REQUIRE(decode(r.bytes));
    }
    SECTION("more than kMaxMessageSize bytes") {
        const std::size_t fits = kMaxMessageSize - kHeaderSize - 4;
        REQUIRE(decode(Raw(0x0001).attr(0x8022, Bytes(fits, 'x')).bytes));
        REQUIRE_FALSE(decode(Raw(0x0001).attr(0x8022, Bytes(fits + 4, 'x')).bytes));
    }
    SECTION("random garbage behind a valid header") {
        std::uint32_t state = 12345;
        for (int round = 0; round < 200; ++round) {
            Raw r(0x0101);
            for (int i = 0; i < 4 * (round % 20); ++i) {
                state = state * 1103515245 + 12345;
                r.bytes.push_back(static_cast<std::uint8_t>(state >> 16));
            }
            set_length(r.bytes, r.bytes.size() - kHeaderSize);
            (void)decode(r.bytes);  // refused or not, never out of bounds (ASan builds)
        }
    }
}

TEST_CASE("stun: malformed known attributes are refused", "[stun]") {
    const Bytes v4 = {0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
    SECTION("XOR-MAPPED-ADDRESS and MAPPED-ADDRESS") {
        for (std::uint16_t type : {0x0020, 0x0001}) {
            REQUIRE(decode(Raw().attr(type, v4).bytes));
            Bytes family3 = v4;
            family3[1] = 3;
            REQUIRE_FALSE(decode(Raw().attr(type, family3).bytes));
            Bytes v6_short = v4;
            v6_short[1] = 2;
            REQUIRE_FALSE(decode(Raw().attr(type, v6_short).bytes));
            Bytes v4_long(20, 0);
            v4_long[1] = 1;
            REQUIRE_FALSE(decode(Raw().attr(type, v4_long).bytes));
            REQUIRE_FALSE(decode(Raw().attr(type, {0, 1}).bytes));
            REQUIRE_FALSE(decode(Raw().attr(type, {}).bytes));
        }
    }
    SECTION("ERROR-CODE") {
        REQUIRE_FALSE(decode(Raw(0x0111).attr(0x0009, {0, 0, 2, 0}).bytes));    // class 2
        REQUIRE_FALSE(decode(Raw(0x0111).attr(0x0009, {0, 0, 7, 0}).bytes));    // class 7
        REQUIRE_FALSE(decode(Raw(0x0111).attr(0x0009, {0, 0, 4, 100}).bytes));  // number 100
        REQUIRE_FALSE(decode(Raw(0x0111).attr(0x0009, {0, 0, 4}).bytes));
    }
    SECTION("MESSAGE-INTEGRITY-SHA256 other than 32 bytes") {
        REQUIRE(decode(Raw().attr(0x001C, Bytes(32, 1)).bytes));
        REQUIRE_FALSE(decode(Raw().attr(0x001C, Bytes(16, 1)).bytes));
        REQUIRE_FALSE(decode(Raw().attr(0x001C, Bytes(36, 1)).bytes));
    }
    SECTION("FINGERPRINT") {
        REQUIRE(decode(Raw().fingerprint().bytes));
        Raw wrong;
        wrong.fingerprint();
        wrong.bytes.back() ^= 1;
        REQUIRE_FALSE(decode(wrong.bytes));
        REQUIRE_FALSE(decode(Raw().fingerprint(8).attr(0x8022, {'a', 'b', 'c', 'd'}).bytes));
        REQUIRE_FALSE(decode(Raw().attr(0x8028, Bytes(8, 0)).bytes));
    }
}

TEST_CASE("stun: unknown attributes are skipped", "[stun]") {
    const Bytes v4 = {0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
    const auto m = decode(Raw()
                              .attr(0x8022, {'s', 'e', 'r', 'v', 'e', 'r'})  // SOFTWARE
                              .attr(0x802b, v4)                              // RESPONSE-ORIGIN
                              .attr(0x0024, {0x6e, 0, 1, 0xff})              // PRIORITY
                              .attr(0x0020, v4)
                              .attr(0x802c, Bytes(8, 0xff))  // OTHER-ADDRESS, malformed
                              .attr(0x0008, Bytes(20, 9))    // MESSAGE-INTEGRITY (SHA-1)
                              .attr(0x7fff, {1})
                              .attr(0xffff, {})
                              .fingerprint()
                              .bytes);
    REQUIRE(m);
    REQUIRE(m->mapped == Endpoint::parse("192.0.2.1:32853"));
    REQUIRE(m->has_fingerprint);
    REQUIRE_FALSE(m->username);
    REQUIRE(m->error_code == 0);
}

TEST_CASE("stun: MAPPED-ADDRESS is used only without XOR-MAPPED-ADDRESS", "[stun]") {
    const Bytes plain = {0, 1, 0x1f, 0x90, 203, 0, 113, 5};  // 203.0.113.5:8080
    const Bytes xored = {0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
    REQUIRE(decode(Raw().attr(0x0001, plain).bytes)->mapped == Endpoint::parse("203.0.113.5:8080"));
    Bytes plain6(20, 0);
    plain6[1] = 2;
    plain6[2] = 0x0d;
    plain6[3] = 0x3d;
    plain6[4] = 0x20;
    plain6[5] = 0x01;
    plain6[6] = 0x0d;
    plain6[7] = 0xb8;
    plain6[19] = 9;
    REQUIRE(decode(Raw().attr(0x0001, plain6).bytes)->mapped ==
            Endpoint::parse("[2001:db8::9]:3389"));
    const auto xor_first = Endpoint::parse("192.0.2.1:32853");
    REQUIRE(decode(Raw().attr(0x0020, xored).attr(0x0001, plain).bytes)->mapped == xor_first);
    REQUIRE(decode(Raw().attr(0x0001, plain).attr(0x0020, xored).bytes)->mapped == xor_first);
}

TEST_CASE("stun: the first of a repeated attribute is used", "[stun]") {
    const auto m = decode(Raw()
                              .attr(0x0006, {'a'})
                              .attr(0x0006, {'b'})
                              .attr(0x0020, {0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43})
                              .attr(0x0020, {0, 1, 0, 0, 0, 0, 0, 0})
                              .bytes);
    REQUIRE(m);
    REQUIRE(m->username == "a");
    REQUIRE(m->mapped == Endpoint::parse("192.0.2.1:32853"));
}

TEST_CASE("stun: attributes after MESSAGE-INTEGRITY-SHA256 are ignored", "[stun]") {
    const auto m = decode(Raw()
                              .attr(0x0006, {'u'})
                              .attr(0x001C, Bytes(32, 5))
                              .attr(0x0006, {'v'})
                              .attr(0x0020, {0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43})
                              .attr(0x0020, {0, 9})       // malformed, but ignored
                              .attr(0x001C, Bytes(4, 0))  // so is a second, malformed integrity
                              .fingerprint()
                              .bytes);
    REQUIRE(m);
    REQUIRE(m->username == "u");
    REQUIRE_FALSE(m->mapped);
    REQUIRE(m->integrity_offset == 28);
    REQUIRE(m->integrity == std::array<std::uint8_t, 32>{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
                                                         5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
                                                         5, 5, 5, 5, 5, 5, 5, 5, 5, 5});
    REQUIRE(m->has_fingerprint);
}

TEST_CASE("stun: a binding error carries its ERROR-CODE", "[stun]") {
    Message m;
    m.type = Type::binding_error;
    m.transaction = kRfcTransaction;
    for (std::uint16_t code : {300, 400, 401, 420, 438, 500, 699}) {
        m.error_code = code;
        const Bytes bytes = encode(m);
        REQUIRE(bytes[20] == 0x00);
        REQUIRE(bytes[21] == 0x09);
        REQUIRE(bytes[26] == code / 100);
        REQUIRE(bytes[27] == code % 100);
        REQUIRE(decode(bytes) == as_decoded(m));
    }
    const auto phrase = decode(
        Raw(0x0111)
            .attr(0x0009, {0, 0, 4, 1, 'U', 'n', 'a', 'u', 't', 'h', 'o', 'r', 'i', 'z', 'e', 'd'})
            .bytes);
    REQUIRE(phrase);
    REQUIRE(phrase->type == Type::binding_error);
    REQUIRE(phrase->error_code == 401);
    for (std::uint16_t code : {1, 299, 700, 1000}) {
        m.error_code = code;
        REQUIRE_THROWS_AS(encode(m), mesh::Error);
    }
}

TEST_CASE("stun: PADDING is zeros before the FINGERPRINT, and decodes back", "[stun]") {
    Message m;
    m.transaction.fill(9);
    m.padding = kBindingRequestPadding;
    const Bytes bytes = encode(m);
    REQUIRE(bytes.size() == kHeaderSize + 4 + kBindingRequestPadding + 8);
    REQUIRE(bytes.size() >= kLargestBindingAnswer);
    REQUIRE(bytes[20] == 0x00);
    REQUIRE(bytes[21] == 0x26);
    for (std::size_t i = 24; i < 24 + kBindingRequestPadding; ++i) REQUIRE(bytes[i] == 0);
    REQUIRE(decode(bytes) == as_decoded(m));
    m.padding = 1025;
    REQUIRE_THROWS_AS(encode(m), mesh::Error);
}
