#pragma once
// IP addresses, prefixes and UDP endpoints: the value types shared by the device model, the
// coordinator and the agent.
#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace mesh::kb {

struct IpAddress {
    enum class Family : std::uint8_t { v4 = 4, v6 = 6 };
    Family family = Family::v4;
    std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

    static IpAddress parse(std::string_view text);  // throws mesh::Error
    static IpAddress v4(std::uint32_t host_order);
    std::string to_string() const;
    bool is_v4() const { return family == Family::v4; }
    std::size_t size() const { return is_v4() ? 4 : 16; }
    unsigned max_prefix() const { return is_v4() ? 32 : 128; }

    auto operator<=>(const IpAddress&) const = default;
};

struct IpPrefix {
    IpAddress address;
    std::uint8_t length = 0;

    // "10.0.0.0/8", "fd00::/8"; a bare address means a host prefix. Host bits must be zero
    // unless allow_host_bits (then they are kept, as for an interface address).
    static IpPrefix parse(std::string_view text, bool allow_host_bits = false);
    static IpPrefix host(const IpAddress& address);
    IpPrefix masked() const;  // host bits cleared
    bool contains(const IpAddress& a) const;
    // Whether the two share any address (same family, one contains the other).
    bool overlaps(const IpPrefix& other) const;
    std::string to_string() const;

    auto operator<=>(const IpPrefix&) const = default;
};

struct Endpoint {
    IpAddress address;
    std::uint16_t port = 0;

    // "192.0.2.1:51820" or "[2001:db8::1]:51820". Throws mesh::Error.
    static Endpoint parse(std::string_view text);
    std::string to_string() const;

    auto operator<=>(const Endpoint&) const = default;
};

}  // namespace mesh::kb
