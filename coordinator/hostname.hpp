#pragma once
// Hostnames as nodes present them: validated, normalized, made unique.
#include <functional>
#include <string>
#include <string_view>

namespace mesh::coord {

// Lowercases and checks an RFC 1123 name: labels of [a-z0-9-], 1..63 chars, not starting or
// ending with '-', total at most 63 chars (a single DNS label keeps names usable in MagicDNS-like
// schemes later). Throws StatusError(invalid_argument) naming the problem.
std::string normalize_hostname(std::string_view name);

// base, or base-2, base-3, ... : the first that `taken` says is free.
std::string unique_hostname(const std::string& base,
                            const std::function<bool(const std::string&)>& taken);

}  // namespace mesh::coord
