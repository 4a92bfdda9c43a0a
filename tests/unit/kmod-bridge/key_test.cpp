#include <catch2/catch.hpp>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/key.hpp"

using mesh::kb::Key;

TEST_CASE("keys round-trip through base64 and hex") {
    Key k;
    for (unsigned i = 0; i < 32; ++i) k.bytes[i] = static_cast<std::uint8_t>(i * 37 + 11);
    CHECK(Key::from_base64(k.to_base64()) == k);
    CHECK(Key::from_hex(k.to_hex()) == k);
    CHECK(Key::from_hex("77076D0A7318A57D3C16C17251B26645DF4C2F87EBC0992AB177FBA51DB92C2A") ==
          Key::from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
}

TEST_CASE("base64 keys with bytes outside the alphabet are refused (found by ip_key_fuzz)") {
    // libsodium 1.0.18 decodes bytes >= 0x80 like base64 digits: this text used to load as the
    // key of "CzBVep/E6Q4zWH2ix+wRNl/ApcrvFDleg6jN8hc8YYY=".
    CHECK_THROWS_AS(Key::from_base64("CzBVep/E6Q4zWH2ix+wRNl\xf0"
                                     "ApcrvFDleg6jN8hc8YYY="),
                    mesh::Error);
    CHECK_NOTHROW(Key::from_base64("CzBVep/E6Q4zWH2ix+wRNl/ApcrvFDleg6jN8hc8YYY="));
    std::string text = Key{}.to_base64();
    for (int c = 0; c < 256; ++c) {
        bool digit = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/';
        if (digit) continue;
        text[10] = static_cast<char>(c);
        INFO("byte " << c);
        CHECK_THROWS_AS(Key::from_base64(text), mesh::Error);
    }
}
