#include "coordinator/duration.hpp"

#include <charconv>
#include <string>

#include "kmod-bridge/error.hpp"

namespace mesh::coord {

std::int64_t parse_duration(std::string_view text) {
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
    std::int64_t scale = 0;
    if (unit.empty() || unit == "s")
        scale = 1;
    else if (unit == "m")
        scale = 60;
    else if (unit == "h")
        scale = 3600;
    else if (unit == "d")
        scale = 86400;
    if (text.empty() || ec != std::errc() || scale == 0 || value <= 0 ||
        value > 400LL * 86400 / scale) {
        throw Error("duration '" + std::string(text.substr(0, 32)) +
                    "' must be a positive number with an optional unit s, m, h or d (e.g. 24h)");
    }
    return value * scale;
}

}  // namespace mesh::coord
