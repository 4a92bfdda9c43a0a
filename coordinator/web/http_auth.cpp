#include "coordinator/web/http_auth.hpp"

#include <sodium.h>

#include <boost/asio/ip/address.hpp>

namespace mesh::coord {

std::optional<std::string> basic_password(std::string_view header) {
    constexpr std::string_view scheme = "basic ";
    if (header.size() <= scheme.size() || header.size() > 4096) return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        char c = header[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != scheme[i]) return std::nullopt;
    }
    std::string_view encoded = header.substr(scheme.size());
    while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
    while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
    std::string decoded(encoded.size(), '\0');
    std::size_t length = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                          encoded.data(), encoded.size(), nullptr, &length, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        return std::nullopt;
    }
    decoded.resize(length);
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return std::nullopt;
    return decoded.substr(colon + 1);
}

bool loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    std::string bare = host;
    if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
        bare = bare.substr(1, bare.size() - 2);
    }
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(bare, ec);
    return !ec && address.is_loopback();
}

}  // namespace mesh::coord
