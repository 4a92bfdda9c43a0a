#include <catch2/catch.hpp>

#include "kmod-bridge/turn_codec.hpp"
#include "kmod-bridge/turn_stream.hpp"

using namespace mesh::kb::turn;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes binding_request() {
    Message m;
    m.method = Method::binding;
    m.cls = Class::request;
    m.transaction = new_transaction();
    return encode(m);
}

Bytes channel_frame(std::uint16_t channel, std::size_t size) {
    Bytes data(size, static_cast<std::uint8_t>(size));
    Bytes out;
    encode_channel_data(channel, data, out, true);
    return out;
}

}  // namespace

TEST_CASE("TURN stream: frames cut into single bytes come out whole and in order") {
    const Bytes stun = binding_request();
    const Bytes odd = channel_frame(0x4000, 5);  // padded to 12
    const Bytes even = channel_frame(0x4001, 8);
    Bytes stream;
    for (const auto* f : {&stun, &odd, &even}) stream.insert(stream.end(), f->begin(), f->end());

    StreamReader reader;
    std::vector<Bytes> frames;
    for (std::uint8_t b : stream) {
        reader.append(std::span(&b, 1));
        while (auto f = reader.next()) frames.push_back(*f);
    }
    REQUIRE(frames.size() == 3);
    CHECK(frames[0] == stun);
    CHECK(frames[1] == odd);
    CHECK(frames[1].size() == 12);
    CHECK(frames[2] == even);
    CHECK(reader.buffered() == 0);
    CHECK_FALSE(reader.out_of_step());
}

TEST_CASE("TURN stream: a half frame waits, a byte neither STUN nor ChannelData stops it") {
    const Bytes frame = channel_frame(0x4002, 100);
    StreamReader reader;
    reader.append(std::span(frame).first(50));
    CHECK_FALSE(reader.next());
    CHECK(reader.buffered() == 50);
    reader.append(std::span(frame).subspan(50));
    CHECK(reader.next() == frame);

    const Bytes garbage = {0xff, 0x00, 0x00, 0x04, 1, 2, 3, 4};
    reader.append(garbage);
    CHECK_FALSE(reader.next());
    CHECK(reader.out_of_step());
    reader.append(frame);  // nothing after the stream lost its framing is trusted
    CHECK_FALSE(reader.next());
    CHECK(reader.buffered() == 0);
}
