#include "kmod-bridge/daemon/log_fields.hpp"

#include <nlohmann/json.hpp>

namespace mesh::daemon {

namespace {

bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A quoted value from just after its opening quote; advances `i` past the closing one.
std::optional<std::string> read_quoted(std::string_view s, std::size_t& i) {
    std::string out;
    while (i < s.size()) {
        const char c = s[i++];
        if (c == '"') return out;
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        if (i >= s.size()) return std::nullopt;
        const char e = s[i++];
        if (e == '"' || e == '\\') {
            out.push_back(e);
        } else if (e == 'x' && i + 1 < s.size() && hex_digit(s[i]) >= 0 &&
                   hex_digit(s[i + 1]) >= 0) {
            out.push_back(static_cast<char>(hex_digit(s[i]) * 16 + hex_digit(s[i + 1])));
            i += 2;
        } else {
            return std::nullopt;
        }
    }
    return std::nullopt;  // no closing quote
}

}  // namespace

std::optional<std::vector<LogField>> parse_log_fields(std::string_view s) {
    std::vector<LogField> fields;
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] == ' ') {
            ++i;
            continue;
        }
        const std::size_t key_start = i;
        while (i < s.size() && key_char(s[i])) ++i;
        if (i == key_start || i >= s.size() || s[i] != '=') return std::nullopt;
        std::string key(s.substr(key_start, i - key_start));
        ++i;  // '='
        std::string value;
        if (i < s.size() && s[i] == '"') {
            ++i;
            auto quoted = read_quoted(s, i);
            if (!quoted) return std::nullopt;
            value = std::move(*quoted);
            if (i < s.size() && s[i] != ' ') return std::nullopt;
        } else {
            const std::size_t start = i;
            while (i < s.size() && s[i] != ' ') ++i;
            value = std::string(s.substr(start, i - start));
            if (value.find('"') != std::string::npos) return std::nullopt;
        }
        fields.emplace_back(std::move(key), std::move(value));
    }
    if (fields.empty()) return std::nullopt;
    return fields;
}

std::string log_json(std::string_view time, std::string_view level, std::string_view message) {
    nlohmann::ordered_json out;
    out["time"] = std::string(time);
    out["level"] = std::string(level);
    auto add = [&out](const std::string& key, std::string value) {
        std::string name = key;
        for (int n = 2; out.contains(name); ++n) name = key + "_" + std::to_string(n);
        out[name] = std::move(value);
    };
    if (auto fields = parse_log_fields(message)) {
        for (auto& [key, value] : *fields) add(key, std::move(value));
    } else {
        add("msg", std::string(message));
    }
    return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mesh::daemon
