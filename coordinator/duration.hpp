#pragma once
// "90s", "15m", "24h", "7d" (or plain seconds) to seconds. Throws mesh::Error.
#include <cstdint>
#include <string_view>

namespace mesh::coord {

std::int64_t parse_duration(std::string_view text);

}  // namespace mesh::coord
