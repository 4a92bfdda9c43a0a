#pragma once
// Durations as operators write them: "90s", "15m", "24h", "7d", "1w", combined ("1h30m",
// "1w2d"), or plain seconds ("90"). Units s, m, h, d, w, each at most once, largest first.
#include <cstdint>
#include <string_view>

namespace mesh::coord {

// Seconds, > 0 and at most 10 years. Throws mesh::Error with an example of what is accepted.
std::int64_t parse_duration(std::string_view text);

}  // namespace mesh::coord
