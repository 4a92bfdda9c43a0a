// Feeds arbitrary bytes to the STUN decoder as if a STUN server, a client or a peer's path probe
// had sent them: decode refuses input only by returning nullopt. Properties: what decodes is a
// bounded, aligned, well-framed message; its fields encode (with and without a key) into bytes
// that decode to the same fields and encode to the same bytes again; MESSAGE-INTEGRITY-SHA256
// verifies with its key only, and never once a byte it covers has changed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kmod-bridge/stun.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/unit/support/crc32_oracle.hpp"

using namespace mesh::kb::stun;

namespace {

using Bytes = std::vector<std::uint8_t>;

// The key the seed corpus/stun/request-username-integrity was signed with (bytes 0, 1, ... 31),
// so that mutations of it reach a MESSAGE-INTEGRITY-SHA256 that verifies.
constexpr IntegrityKey kKey = [] {
    IntegrityKey k{};
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i);
    return k;
}();
constexpr IntegrityKey kOtherKey = [] {
    IntegrityKey k = kKey;
    k[0] ^= 1;
    return k;
}();

// The fields a sender chooses (not the ones decode fills in).
bool same_fields(const Message& a, const Message& b) {
    return a.type == b.type && a.transaction == b.transaction && a.mapped == b.mapped &&
           a.username == b.username && a.error_code == b.error_code;
}

using mesh::test::crc32;

// Recomputes the FINGERPRINT that ends `packet`, so that a change elsewhere gets past it.
void refingerprint(Bytes& packet) {
    const std::size_t at = packet.size() - 4;
    const std::uint32_t f = crc32(packet.data(), at - 4) ^ 0x5354554e;
    for (std::size_t i = 0; i < 4; ++i)
        packet[at + i] = static_cast<std::uint8_t>(f >> (24 - 8 * i));
}

std::uint16_t get16(std::span<const std::uint8_t> p, std::size_t at) {
    return static_cast<std::uint16_t>(p[at] << 8 | p[at + 1]);
}

// `packet`, whose MESSAGE-INTEGRITY-SHA256 verifies with kKey, with one byte the HMAC covers
// changed (chosen by `choice`): if it still decodes, it no longer verifies.
void check_tampered(Bytes packet, const Message& m, std::uint32_t choice) {
    const std::size_t covered = *m.integrity_offset + 36;
    packet[choice % covered] ^= static_cast<std::uint8_t>((choice >> 16) | 1);
    if (m.has_fingerprint) refingerprint(packet);
    const auto altered = decode(packet);
    if (altered) FUZZ_CHECK(!verify_integrity(packet, *altered, kKey));
}

// What decode accepted is framed as the RFC says.
void check_decoded(std::span<const std::uint8_t> packet, const Message& m) {
    FUZZ_CHECK(looks_like_stun(packet));
    FUZZ_CHECK(packet.size() <= kMaxMessageSize && packet.size() % 4 == 0);
    FUZZ_CHECK(get16(packet, 2) == packet.size() - kHeaderSize);
    FUZZ_CHECK(!m.username || m.username->size() <= 513);
    FUZZ_CHECK(m.error_code == 0 || (m.error_code >= 300 && m.error_code <= 699));
    if (m.integrity_offset) {
        const std::size_t at = *m.integrity_offset;
        FUZZ_CHECK(at >= kHeaderSize && at % 4 == 0 && at + 36 <= packet.size());
        FUZZ_CHECK(get16(packet, at) == 0x001C && get16(packet, at + 2) == 32);
        FUZZ_CHECK(std::equal(m.integrity.begin(), m.integrity.end(), packet.begin() + at + 4));
    }
    if (m.has_fingerprint) FUZZ_CHECK(get16(packet, packet.size() - 8) == 0x8028);
}

// The message's fields, encoded without and with a key, decode back to themselves.
void check_round_trip(const Message& m, std::uint32_t choice) {
    const Bytes plain = encode(m);
    const auto again = decode(plain);
    FUZZ_CHECK(again && same_fields(*again, m));
    FUZZ_CHECK(again->has_fingerprint && !again->integrity_offset);
    FUZZ_CHECK(encode(*again) == plain);
    FUZZ_CHECK(!verify_integrity(plain, *again, kKey));

    const Bytes keyed = encode(m, &kKey);
    const auto verified = decode(keyed);
    FUZZ_CHECK(verified && same_fields(*verified, m) && verified->has_fingerprint);
    FUZZ_CHECK(verified->integrity_offset == keyed.size() - 8 - 36);
    FUZZ_CHECK(encode(*verified, &kKey) == keyed);
    FUZZ_CHECK(verify_integrity(keyed, *verified, kKey));
    FUZZ_CHECK(!verify_integrity(keyed, *verified, kOtherKey));
    check_tampered(keyed, *verified, choice);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> packet(data, size);
    const auto m = decode(packet);
    if (!looks_like_stun(packet)) FUZZ_CHECK(!m);
    if (!m) return 0;
    std::uint32_t choice = static_cast<std::uint32_t>(size) * 2654435761u;
    for (std::size_t i = 0; i < size && i < 64; ++i) choice = (choice ^ data[i]) * 16777619u;
    check_decoded(packet, *m);
    check_round_trip(*m, choice);
    if (verify_integrity(packet, *m, kKey)) {
        FUZZ_CHECK(!verify_integrity(packet, *m, kOtherKey));
        check_tampered(Bytes(packet.begin(), packet.end()), *m, choice);
    }
    return 0;
}
