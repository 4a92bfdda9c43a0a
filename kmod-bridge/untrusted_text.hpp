#pragma once
// Untrusted text (from the network, a peer's process or a file) made safe to put into a log line
// or an error message: nothing in it can end a line, forge a key=value pair, carry a terminal
// escape or grow without bound.
#include <cstddef>
#include <string>
#include <string_view>

namespace mesh::kb {

// Printable ASCII stays as it is, except `"` and `\`, which are escaped; every other byte
// (control characters, DEL, non-ASCII) becomes \xNN. At most `max` input bytes are kept; a longer
// text ends in "...".
std::string escape_untrusted(std::string_view text, std::size_t max = 64);

// escape_untrusted in double quotes, for a log line's key="value".
std::string log_quote(std::string_view text, std::size_t max = 256);

}  // namespace mesh::kb
