#include "kmod-bridge/daemon/config_lines.hpp"

#include <CLI/CLI.hpp>

#include <set>
#include <sstream>

namespace mesh::daemon {

namespace {

std::string trimmed(std::string_view s) {
    std::string out(s);
    CLI::detail::trim(out);
    return out;
}

bool bare_key(const std::string& key) {
    if (key.empty()) return false;
    for (char c : key) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        lines.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// The value part of `key = value` as CLI11 sees it: trimmed, a # comment cut off.
std::string value_part(const std::string& line) {
    std::string item = trimmed(line.substr(line.find('=') + 1));
    if (auto c = item.find('#'); c != std::string::npos) item = trimmed(item.substr(0, c));
    return item;
}

// CLI11's reader on one entry's text: the key and its values, exactly as it would read them.
CLI::ConfigItem parse_entry(const std::string& text, std::size_t line, const std::string& key) {
    std::istringstream in(text);
    auto items = CLI::ConfigTOML().from_config(in);
    if (items.size() != 1 || !items.front().parents.empty()) {
        throw ConfigLineError(line, key, "cannot read this line as key = value");
    }
    return items.front();
}

}  // namespace

std::vector<ConfigEntry> read_config_text(std::string_view text) {
    const auto lines = split_lines(text);
    std::vector<ConfigEntry> entries;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::size_t number = i + 1;
        const std::string line = trimmed(lines[i]);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.front() == '[') {
            throw ConfigLineError(number, "",
                                  "tables ([section]) are not used: put every key at the top "
                                  "level");
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos) throw ConfigLineError(number, "", "expected key = value");
        std::string key = trimmed(line.substr(0, eq));
        if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'') &&
            key.back() == key.front()) {
            key = key.substr(1, key.size() - 2);
        }
        if (!bare_key(key)) {
            throw ConfigLineError(number, key,
                                  "a key is letters, digits, _ and - (no dotted keys)");
        }
        if (!seen.insert(key).second) {
            throw ConfigLineError(number, key, "key \"" + key + "\" is set twice");
        }
        std::string entry_text = line;
        std::string item = value_part(line);
        if (item.empty()) throw ConfigLineError(number, key, "no value for \"" + key + "\"");
        const bool array = item.front() == '[';
        if (array && (item.size() < 2 || item.back() != ']')) {
            // An array continued on the next lines, up to the one that ends in ']'.
            bool closed = false;
            while (!closed && i + 1 < lines.size()) {
                const std::string next = trimmed(lines[++i]);
                entry_text += "\n" + next;
                item += next;
                closed = !item.empty() && item.back() == ']';
            }
            if (!closed) {
                throw ConfigLineError(number, key, "the array of \"" + key + "\" has no ]");
            }
        }
        auto parsed = parse_entry(entry_text, number, key);
        if (parsed.name != key) throw ConfigLineError(number, key, "cannot read this key");
        ConfigEntry entry{key, {}, array, number};
        for (auto& value : parsed.inputs) {
            if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
                throw ConfigLineError(number, key,
                                      "unterminated string in \"" + key +
                                          "\" (# starts a comment, even inside quotes)");
            }
            if (array && value.empty()) continue;  // [] and a trailing comma
            entry.values.push_back(std::move(value));
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

std::string render_config_value(const std::vector<std::string>& values, bool array) {
    std::string out = array ? "[" : "";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ", ";
        const auto& v = values[i];
        const bool plain = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
        if (plain || v == "true" || v == "false") {
            out += v;
        } else if (v.find('"') == std::string::npos) {
            out += '"' + v + '"';
        } else {
            out += '\'' + v + '\'';
        }
    }
    if (array) out += "]";
    return out;
}

}  // namespace mesh::daemon
