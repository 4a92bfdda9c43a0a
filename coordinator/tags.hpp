#pragma once
// Node tags, as the operator gives them to a join token: the only way a node gets tags.
#include <string>
#include <vector>

namespace mesh::coord {

constexpr std::size_t kMaxTags = 16;

// Lowercases, checks each tag ([a-z0-9-], 1..63 chars, no '-' at either end), sorts and drops
// duplicates. Throws StatusError(invalid_argument) naming the offending tag.
std::vector<std::string> normalize_tags(const std::vector<std::string>& tags);

}  // namespace mesh::coord
