#pragma once
// Reading a join token from a file or stdin (`meshctl join --token-file FILE|-`), so it never
// sits on a command line that every user can read in /proc/PID/cmdline.
#include <istream>
#include <string>

namespace mesh::agent {

// The token in `text`: surrounding whitespace (a trailing newline) removed. Throws mesh::Error
// when nothing is left or it holds more than one line or word.
std::string token_from_text(const std::string& text, const std::string& origin);
// Reads at most 4 KiB from `path` ("-" = stdin) and returns token_from_text of it. Throws
// mesh::Error naming the file.
std::string read_token_file(const std::string& path);
std::string read_token_stream(std::istream& in, const std::string& origin);  // the whole stream
std::string read_token_line(std::istream& in, const std::string& origin);    // its first line

}  // namespace mesh::agent
