#include "kmod-bridge/key.hpp"

#include <sodium.h>

#include "kmod-bridge/error.hpp"

namespace mesh::kb {

Key Key::from_base64(std::string_view text) {
    // libsodium 1.0.18 decodes bytes >= 0x80 as if they were base64 digits: check the alphabet.
    constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (text.size() != 44 || text[43] != '=' ||
        text.substr(0, 43).find_first_not_of(kAlphabet) != std::string_view::npos) {
        throw Error("key must be 44 characters of base64 ending in '='");
    }
    Key key;
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(key.bytes.data(), key.bytes.size(), text.data(), text.size(), nullptr,
                          &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != key.bytes.size() || end != text.data() + text.size()) {
        throw Error("key is not valid base64 of 32 bytes");
    }
    return key;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Key Key::from_hex(std::string_view text) {
    if (text.size() != 64) throw Error("hex key must be 64 hex digits");
    Key key;
    for (size_t i = 0; i < 32; ++i) {
        int hi = hex_value(text[2 * i]);
        int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) throw Error("hex key contains a non-hex character");
        key.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return key;
}

std::string Key::to_base64() const {
    char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(out, sizeof out, bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
    return out;
}

std::string Key::to_hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

bool Key::is_zero() const {
    for (auto b : bytes)
        if (b != 0) return false;
    return true;
}

}  // namespace mesh::kb
