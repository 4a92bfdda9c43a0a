#include "coordinator/store_url.hpp"

#include <charconv>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::coord {

namespace {

constexpr std::string_view kForm =
    " (give sqlite:DIR or etcd://HOST:PORT[,HOST:PORT...][/PREFIX], e.g. "
    "etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379)";

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    throw Error("store '" + kb::escape_untrusted(text, 200) + "': " + why + std::string(kForm));
}

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

// "host:port": a DNS name or IPv4 address, a port 1..65535. (etcd over IPv6 is not offered.)
void check_endpoint(std::string_view text, std::string_view endpoint) {
    auto colon = endpoint.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        bad(text, "'" + std::string(endpoint) + "' is not HOST:PORT");
    }
    for (char c : endpoint.substr(0, colon)) {
        if (!host_char(c)) bad(text, "'" + std::string(endpoint) + "' has a bad host name");
    }
    auto port_text = endpoint.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
        bad(text, "'" + std::string(endpoint) + "' needs a port between 1 and 65535");
    }
}

}  // namespace

std::string StoreUrl::to_string() const {
    if (kind == Kind::sqlite) return "sqlite:" + sqlite_dir;
    std::string out = "etcd://";
    for (std::size_t i = 0; i < endpoints.size(); ++i) out += (i ? "," : "") + endpoints[i];
    return out + (prefix == "/mesh/" ? "" : prefix);
}

StoreUrl parse_store_url(std::string_view text) {
    StoreUrl url;
    if (text.size() > 4096) bad(text, "too long");
    if (text.starts_with("sqlite:")) {
        url.kind = StoreUrl::Kind::sqlite;
        url.sqlite_dir = std::string(text.substr(7));
        if (url.sqlite_dir.empty()) bad(text, "sqlite: needs the state directory");
        if (url.sqlite_dir.find('\0') != std::string::npos) bad(text, "a NUL in the directory");
        return url;
    }
    if (!text.starts_with("etcd://")) bad(text, "unknown kind of store");
    url.kind = StoreUrl::Kind::etcd;
    auto rest = text.substr(7);
    auto slash = rest.find('/');
    auto hosts = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        std::string prefix(rest.substr(slash));
        for (char c : prefix) {
            if (!host_char(c) && c != '/')
                bad(text, "the key prefix may only have [A-Za-z0-9._/-]");
        }
        if (prefix.find("//") != std::string::npos) bad(text, "an empty part in the key prefix");
        if (prefix != "/" && prefix.back() != '/') prefix += '/';
        if (prefix == "/") prefix = "/mesh/";
        url.prefix = prefix;
    }
    if (hosts.empty()) bad(text, "no etcd address");
    std::size_t start = 0;
    while (start <= hosts.size()) {
        auto comma = hosts.find(',', start);
        if (comma == std::string_view::npos) comma = hosts.size();
        auto endpoint = hosts.substr(start, comma - start);
        check_endpoint(text, endpoint);
        url.endpoints.emplace_back(endpoint);
        if (url.endpoints.size() > 16) bad(text, "more than 16 etcd addresses");
        start = comma + 1;
    }
    return url;
}

}  // namespace mesh::coord
