#include "kmod-bridge/relay_url.hpp"

#include <cctype>
#include <charconv>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::kb {

namespace {

bool valid_dns_name(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    for (char c : host) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
    }
    return host.front() != '-' && host.front() != '.';
}

}  // namespace

std::string RelayUrl::to_string() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    std::string out = (tls ? "turns:" : "turn:") + h + ":" + std::to_string(port);
    if (tcp && !tls) out += "?transport=tcp";
    return out;
}

RelayUrl parse_relay_url(std::string_view text) {
    const std::string shown = "relay URL '" + escape_untrusted(text, 200) + "'";
    RelayUrl url;
    std::string_view rest;
    if (text.starts_with("turn:")) {
        rest = text.substr(5);
    } else if (text.starts_with("turns:")) {
        url.tls = true;
        url.tcp = true;
        url.port = 5349;
        rest = text.substr(6);
    } else {
        throw Error(shown + " must start with turn: or turns:");
    }
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        auto query = rest.substr(q + 1);
        rest = rest.substr(0, q);
        if (query == "transport=tcp") {
            url.tcp = true;
        } else if (query == "transport=udp") {
            if (url.tls) throw Error(shown + ": turns: runs over TCP, not UDP");
        } else {
            throw Error(shown + ": the only query understood is transport=udp or transport=tcp");
        }
    }
    std::string_view host = rest, port;
    if (rest.starts_with("[")) {
        auto close = rest.find(']');
        if (close == std::string_view::npos) throw Error(shown + ": unclosed [ in the host");
        host = rest.substr(1, close - 1);
        auto after = rest.substr(close + 1);
        if (!after.empty()) {
            if (!after.starts_with(":")) throw Error(shown + ": expected :PORT after ]");
            port = after.substr(1);
        }
        try {
            if (IpAddress::parse(std::string(host)).is_v4()) throw Error("");
        } catch (const Error&) {
            throw Error(shown + ": [...] must hold an IPv6 address");
        }
    } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (!port.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
            throw Error(shown + ": the port must be 1..65535");
        }
        url.port = static_cast<std::uint16_t>(value);
    }
    bool address = false;
    try {
        IpAddress::parse(std::string(host));
        address = true;
    } catch (const Error&) {
    }
    if (!address && !valid_dns_name(host)) {
        throw Error(shown + ": the host must be an IP address or a DNS name");
    }
    url.host = std::string(host);
    return url;
}

}  // namespace mesh::kb
