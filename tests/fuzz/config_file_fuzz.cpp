// Feeds arbitrary text to the config file reader: it may reject it only with ConfigLineError
// (naming a line inside the text); what it accepts renders back to text it reads the same.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kmod-bridge/daemon/config_lines.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::size_t lines =
        1 + static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    try {
        for (const auto& e : mesh::daemon::read_config_text(text)) {
            if (e.key.empty() || e.line < 1 || e.line > lines) __builtin_trap();
            bool simple = true;
            for (const auto& v : e.values) {
                simple = simple && !v.empty() &&
                         v.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789/.:_-") ==
                             std::string::npos;
            }
            if (!simple) continue;
            auto again = mesh::daemon::read_config_text(
                e.key + " = " + mesh::daemon::render_config_value(e.values, true) + "\n");
            if (again.size() != 1 || again[0].values != e.values) __builtin_trap();
        }
    } catch (const mesh::daemon::ConfigLineError& e) {
        if (e.line() < 1 || e.line() > lines) __builtin_trap();
    }
    return 0;
}
