#include "coordinator/tags.hpp"

#include <algorithm>

#include "coordinator/status_error.hpp"

namespace mesh::coord {

namespace {

bool valid_tag(const std::string& tag) {
    if (tag.empty() || tag.size() > 63 || tag.front() == '-' || tag.back() == '-') return false;
    return std::all_of(tag.begin(), tag.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

}  // namespace

std::vector<std::string> normalize_tags(const std::vector<std::string>& tags) {
    if (tags.size() > kMaxTags) {
        throw StatusError(Code::invalid_argument, "at most " + std::to_string(kMaxTags) +
                                                      " tags per token, got " +
                                                      std::to_string(tags.size()));
    }
    std::vector<std::string> out;
    for (auto tag : tags) {
        std::transform(tag.begin(), tag.end(), tag.begin(), [](char c) {
            return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        });
        if (!valid_tag(tag)) {
            throw StatusError(Code::invalid_argument,
                              "tag '" + tag.substr(0, 64) +
                                  "' must be 1..63 of [a-z0-9-], not starting or ending with '-'");
        }
        out.push_back(tag);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace mesh::coord
