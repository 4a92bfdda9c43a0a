#pragma once
// A daemon's TOML config file read into key = value entries that remember their line: CLI11
// parses each entry's text (its own TOML reader), this layer only finds which lines form an
// entry, so that an unknown key or a bad value can be reported as FILE:LINE. Pure, no I/O.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::daemon {

struct ConfigEntry {
    std::string key;
    std::vector<std::string> values;  // one for a scalar, any number for an array
    bool array = false;               // written as [ ... ]
    std::size_t line = 0;             // 1-based, where the key is
};

// A mistake in the file: where, which key (may be empty) and what is wrong.
class ConfigLineError : public std::runtime_error {
  public:
    ConfigLineError(std::size_t line, std::string key, const std::string& what)
        : std::runtime_error(what), line_(line), key_(std::move(key)) {}
    std::size_t line() const { return line_; }
    const std::string& key() const { return key_; }

  private:
    std::size_t line_;
    std::string key_;
};

// Top-level `key = value` lines (strings, numbers, booleans, arrays, which may span lines),
// comments (#) and blank lines. Tables, dotted keys, repeated keys and anything that is not
// `key = value` are errors (ConfigLineError).
std::vector<ConfigEntry> read_config_text(std::string_view text);

// One key's line as read_config_text reads it back.
std::string render_config_value(const std::vector<std::string>& values, bool array);

}  // namespace mesh::daemon
