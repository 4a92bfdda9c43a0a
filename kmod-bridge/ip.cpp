#include "kmod-bridge/ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::kb {

IpAddress IpAddress::parse(std::string_view text) {
    // inet_pton needs a NUL-terminated string; bound the copy so hostile input stays cheap, and
    // refuse an embedded NUL, where inet_pton would stop and ignore the rest.
    if (text.empty() || text.size() > INET6_ADDRSTRLEN ||
        text.find('\0') != std::string_view::npos) {
        throw Error("'" + escape_untrusted(text) + "' is not an IP address");
    }
    std::string s(text);
    IpAddress a;
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
            a.family = Family::v4;
            return a;
        }
    } else if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = Family::v6;
        return a;
    }
    throw Error("'" + escape_untrusted(s) + "' is not an IP address");
}

IpAddress IpAddress::v4(std::uint32_t host_order) {
    IpAddress a;
    a.family = Family::v4;
    a.bytes[0] = host_order >> 24;
    a.bytes[1] = host_order >> 16 & 0xff;
    a.bytes[2] = host_order >> 8 & 0xff;
    a.bytes[3] = host_order & 0xff;
    return a;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

static std::uint8_t parse_length(std::string_view text, unsigned max) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > max) {
        throw Error("prefix length '" + escape_untrusted(text, 16) + "' must be 0.." +
                    std::to_string(max));
    }
    return static_cast<std::uint8_t>(value);
}

IpPrefix IpPrefix::parse(std::string_view text, bool allow_host_bits) {
    auto slash = text.find('/');
    IpPrefix p;
    p.address = IpAddress::parse(text.substr(0, slash));
    p.length = slash == std::string_view::npos
                   ? static_cast<std::uint8_t>(p.address.max_prefix())
                   : parse_length(text.substr(slash + 1), p.address.max_prefix());
    if (!allow_host_bits && p.masked() != p) {
        throw Error("prefix '" + escape_untrusted(text) + "' has host bits set (did you mean " +
                    p.masked().to_string() + "?)");
    }
    return p;
}

IpPrefix IpPrefix::host(const IpAddress& address) {
    return IpPrefix{address, static_cast<std::uint8_t>(address.max_prefix())};
}

IpPrefix IpPrefix::masked() const {
    IpPrefix p = *this;
    for (unsigned i = 0; i < p.address.size(); ++i) {
        unsigned bits_before = i * 8;
        if (bits_before >= length) {
            p.address.bytes[i] = 0;
        } else if (length - bits_before < 8) {
            p.address.bytes[i] &= static_cast<std::uint8_t>(0xff << (8 - (length - bits_before)));
        }
    }
    return p;
}

bool IpPrefix::contains(const IpAddress& a) const {
    if (a.family != address.family) return false;
    return IpPrefix{a, length}.masked().address == masked().address;
}

bool IpPrefix::overlaps(const IpPrefix& other) const {
    return contains(other.address) || other.contains(address);
}

std::string IpPrefix::to_string() const {
    return address.to_string() + "/" + std::to_string(length);
}

Endpoint Endpoint::parse(std::string_view text) {
    Endpoint e;
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find("]:");
        if (close == std::string_view::npos) throw Error("endpoint '[addr]:port' is malformed");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        e.address = IpAddress::parse(host);
        if (e.address.is_v4()) throw Error("brackets are only for IPv6 endpoints");
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) throw Error("endpoint needs a port (addr:port)");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        e.address = IpAddress::parse(host);
        if (!e.address.is_v4()) throw Error("IPv6 endpoints are written [addr]:port");
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 ||
        value > 65535) {
        throw Error("endpoint port must be 1..65535");
    }
    e.port = static_cast<std::uint16_t>(value);
    return e;
}

std::string Endpoint::to_string() const {
    if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
    return "[" + address.to_string() + "]:" + std::to_string(port);
}

}  // namespace mesh::kb
