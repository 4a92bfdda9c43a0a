#include "coordinator/duration.hpp"

#include <charconv>
#include <string>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::coord {

namespace {

constexpr std::int64_t kMaxSeconds = 3650LL * 86400;  // 10 years

// Seconds per unit, in the order units must appear; 0 for an unknown unit.
std::int64_t unit_seconds(char unit, int& rank) {
    switch (unit) {
        case 'w':
            rank = 0;
            return 7 * 86400;
        case 'd':
            rank = 1;
            return 86400;
        case 'h':
            rank = 2;
            return 3600;
        case 'm':
            rank = 3;
            return 60;
        case 's':
            rank = 4;
            return 1;
        default:
            return 0;
    }
}

[[noreturn]] void refuse(std::string_view text) {
    throw Error("duration '" + kb::escape_untrusted(text, 32) +
                "' must be a positive number of seconds or of units w, d, h, m, s, largest "
                "first (e.g. 90s, 24h, 1h30m, 1w), at most 10 years");
}

}  // namespace

std::int64_t parse_duration(std::string_view text) {
    if (text.empty()) refuse(text);
    std::int64_t total = 0;
    int last_rank = -1;
    const char* p = text.data();
    const char* end = text.data() + text.size();
    while (p < end) {
        std::int64_t value = 0;
        auto [next, ec] = std::from_chars(p, end, value);
        if (ec != std::errc() || next == p || value < 0 || value > kMaxSeconds) refuse(text);
        p = next;
        std::int64_t scale = 1;
        if (p < end) {
            int rank = 0;
            scale = unit_seconds(*p, rank);
            if (scale == 0 || rank <= last_rank) refuse(text);
            last_rank = rank;
            ++p;
        } else if (last_rank >= 0) {
            refuse(text);  // "1h30": a bare number only on its own
        }
        if (value > (kMaxSeconds - total) / scale) refuse(text);
        total += value * scale;
    }
    if (total <= 0) refuse(text);
    return total;
}

}  // namespace mesh::coord
