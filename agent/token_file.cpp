#include "agent/token_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

namespace {
constexpr std::size_t kMaxTokenFile = 4096;
}

std::string token_from_text(const std::string& text, const std::string& origin) {
    const char* space = " \t\r\n";
    auto first = text.find_first_not_of(space);
    if (first == std::string::npos) throw Error(origin + " holds no join token");
    auto last = text.find_last_not_of(space);
    std::string token = text.substr(first, last - first + 1);
    if (token.find_first_of(space) != std::string::npos) {
        throw Error(origin + " holds more than one word; it must hold only the join token");
    }
    return token;
}

std::string read_token_stream(std::istream& in, const std::string& origin) {
    std::string text(kMaxTokenFile + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxTokenFile) throw Error(origin + " is larger than a join token can be");
    return token_from_text(text, origin);
}

std::string read_token_line(std::istream& in, const std::string& origin) {
    std::string line;
    char c;
    while (line.size() <= kMaxTokenFile && in.get(c) && c != '\n') line.push_back(c);
    if (line.size() > kMaxTokenFile) throw Error(origin + " is longer than a join token can be");
    return token_from_text(line, origin);
}

std::string read_token_file(const std::string& path) {
    // stdin: one line, so a token pasted at the prompt ends with Enter, no end of file needed.
    if (path == "-") return read_token_line(std::cin, "stdin");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read the token file " + path + ": " + std::strerror(errno));
    return read_token_stream(in, "the token file " + path);
}

}  // namespace mesh::agent
