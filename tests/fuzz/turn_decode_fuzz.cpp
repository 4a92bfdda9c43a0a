// Feeds arbitrary bytes to the TURN decoders as if a TURN server (coturn) or a peer relaying
// through it had sent them: decode and decode_channel_data refuse input only by returning
// nullopt, stream_frame_size never reads past what it is given. Properties: what decodes is a
// well-framed message whose fields encode (with and without a key) into bytes that decode to the
// same fields; MESSAGE-INTEGRITY verifies with its key only, and never once a byte it covers has
// changed; a ChannelData frame's data lies inside the packet and encodes back to it. The same
// bytes as a TCP/TLS stream: cut into pieces of any sizes, the StreamReader hands out the same
// frames as from one piece, each exactly stream_frame_size long, and never more bytes than came.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kmod-bridge/turn_codec.hpp"
#include "kmod-bridge/turn_stream.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::kb::turn;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr LongTermKey kKey = [] {
    LongTermKey k{};
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i);
    return k;
}();
constexpr LongTermKey kOtherKey = [] {
    LongTermKey k = kKey;
    k[0] ^= 1;
    return k;
}();

// The fields a sender chooses (not the ones decode fills in).
bool same_fields(const Message& a, const Message& b) {
    return a.method == b.method && a.cls == b.cls && a.transaction == b.transaction &&
           a.username == b.username && a.realm == b.realm && a.nonce == b.nonce &&
           a.software == b.software && a.lifetime == b.lifetime &&
           a.requested_transport == b.requested_transport && a.relayed == b.relayed &&
           a.mapped == b.mapped && a.peers == b.peers && a.channel == b.channel &&
           a.data == b.data && a.dont_fragment == b.dont_fragment && a.error_code == b.error_code &&
           a.error_reason == b.error_reason;
}

std::uint16_t get16(std::span<const std::uint8_t> p, std::size_t at) {
    return static_cast<std::uint16_t>(p[at] << 8 | p[at + 1]);
}

void check_decoded(std::span<const std::uint8_t> packet, const Message& m) {
    FUZZ_CHECK(packet.size() >= 20 && packet.size() <= kMaxMessageSize && packet.size() % 4 == 0);
    FUZZ_CHECK(get16(packet, 2) == packet.size() - 20);
    FUZZ_CHECK(!m.username || m.username->size() <= 513);
    FUZZ_CHECK(m.error_code == 0 || (m.error_code >= 300 && m.error_code <= 699));
    FUZZ_CHECK(!m.channel || (*m.channel >= kFirstChannel && *m.channel <= kLastChannel));
    if (m.integrity_offset) {
        const std::size_t at = *m.integrity_offset;
        FUZZ_CHECK(at >= 20 && at % 4 == 0 && at + 24 <= packet.size());
        FUZZ_CHECK(get16(packet, at) == 0x0008 && get16(packet, at + 2) == 20);
    }
}

void check_round_trip(const Message& m, std::uint32_t choice) {
    const Bytes plain = encode(m);
    const auto again = decode(plain);
    FUZZ_CHECK(again && same_fields(*again, m) && again->has_fingerprint);
    FUZZ_CHECK(!again->integrity_offset && !verify_integrity(plain, *again, kKey));
    FUZZ_CHECK(encode(*again) == plain);
    if (!m.username || !m.realm) return;
    const Bytes keyed = encode(m, &kKey, (choice & 1) != 0);
    const auto verified = decode(keyed);
    FUZZ_CHECK(verified && same_fields(*verified, m));
    FUZZ_CHECK(verify_integrity(keyed, *verified, kKey));
    FUZZ_CHECK(!verify_integrity(keyed, *verified, kOtherKey));
    // One byte the HMAC covers, changed: if it still decodes, it no longer verifies. (Without a
    // fingerprint, so that the change is not caught by that first.)
    if ((choice & 1) == 0) {
        Bytes altered = keyed;
        const std::size_t covered = *verified->integrity_offset;
        altered[4 + (choice >> 1) % (covered - 4)] ^= static_cast<std::uint8_t>((choice >> 20) | 1);
        if (const auto a = decode(altered)) FUZZ_CHECK(!verify_integrity(altered, *a, kKey));
    }
}

void check_channel_data(std::span<const std::uint8_t> packet) {
    const auto frame = decode_channel_data(packet);
    if (!frame) return;
    FUZZ_CHECK(frame->channel >= kFirstChannel && frame->channel <= kLastChannel);
    FUZZ_CHECK(frame->data.data() == packet.data() + 4);
    FUZZ_CHECK(frame->data.size() + 4 <= packet.size());
    Bytes out;
    encode_channel_data(frame->channel, frame->data, out);
    FUZZ_CHECK(std::equal(out.begin(), out.end(), packet.begin()));
    const auto size = stream_frame_size(packet);
    FUZZ_CHECK(size && *size >= out.size() && *size % 4 == 0);
}

std::vector<Bytes> frames_of(std::span<const std::uint8_t> stream, std::uint32_t cuts) {
    StreamReader reader;
    std::vector<Bytes> frames;
    std::size_t at = 0;
    while (at < stream.size()) {
        // Piece sizes 1..16 (or the rest at once when cuts is 0), chosen by the input.
        const std::size_t piece = cuts == 0 ? stream.size() : 1 + (cuts & 15);
        cuts = (cuts >> 4) | (cuts << 28);
        const std::size_t n = std::min(piece, stream.size() - at);
        reader.append(stream.subspan(at, n));
        at += n;
        while (auto frame = reader.next()) {
            const auto size = stream_frame_size(*frame);
            FUZZ_CHECK(size && *size == frame->size() && !frame->empty());
            frames.push_back(std::move(*frame));
        }
    }
    std::size_t framed = 0;
    for (const auto& f : frames) framed += f.size();
    FUZZ_CHECK(framed + (reader.out_of_step() ? 0 : reader.buffered()) <= stream.size());
    return frames;
}

void check_stream(std::span<const std::uint8_t> stream, std::uint32_t choice) {
    const auto whole = frames_of(stream, 0);
    FUZZ_CHECK(frames_of(stream, choice | 1) == whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> packet(data, size);
    check_channel_data(packet);
    const auto frame = stream_frame_size(packet);
    FUZZ_CHECK(frame.has_value() == (size >= 4));
    std::uint32_t choice = static_cast<std::uint32_t>(size) * 2654435761u;
    for (std::size_t i = 0; i < size && i < 64; ++i) choice = (choice ^ data[i]) * 16777619u;
    check_stream(packet, choice);
    const auto m = decode(packet);
    if (!m) return 0;
    check_decoded(packet, *m);
    check_round_trip(*m, choice);
    if (verify_integrity(packet, *m, kKey)) FUZZ_CHECK(!verify_integrity(packet, *m, kOtherKey));
    return 0;
}
