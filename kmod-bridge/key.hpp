#pragma once
// A 32-byte Curve25519/Ed25519 key as WireGuard and the coordinator see it.
#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace mesh::kb {

struct Key {
    std::array<std::uint8_t, 32> bytes{};

    // Standard base64 (44 chars with '=' padding), as `wg` prints keys. Throws mesh::Error.
    static Key from_base64(std::string_view text);
    // 64 lowercase or uppercase hex digits, as the UAPI protocol carries keys. Throws mesh::Error.
    static Key from_hex(std::string_view text);

    std::string to_base64() const;
    std::string to_hex() const;
    bool is_zero() const;

    auto operator<=>(const Key&) const = default;
};

}  // namespace mesh::kb
