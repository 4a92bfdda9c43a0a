#include "kmod-bridge/untrusted_text.hpp"

#include <algorithm>

namespace mesh::kb {

std::string escape_untrusted(std::string_view text, std::size_t max) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(text.size(), max) + 8);
    for (unsigned char c : text.substr(0, max)) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
    }
    if (text.size() > max) out += "...";
    return out;
}

std::string log_quote(std::string_view text, std::size_t max) {
    return '"' + escape_untrusted(text, max) + '"';
}

}  // namespace mesh::kb
