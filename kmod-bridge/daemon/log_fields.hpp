#pragma once
// Our log lines' message, `event=name key=value key="quoted"`, read back into its pairs: the
// inverse of kb::log_quote for quoted values. And the JSON line (--log-format json) made of
// them. Pure, no I/O.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mesh::daemon {

using LogField = std::pair<std::string, std::string>;

// The pairs in order; nullopt when the message is not entirely key=value pairs.
std::optional<std::vector<LogField>> parse_log_fields(std::string_view message);

// One JSON object (no newline): time, level, then the message's pairs (a key seen before gets
// a _2, _3 ... suffix); a message that is not key=value pairs goes whole into "msg". Valid
// UTF-8 whatever the message holds.
std::string log_json(std::string_view time, std::string_view level, std::string_view message);

}  // namespace mesh::daemon
