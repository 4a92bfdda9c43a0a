#include "coordinator/hostname.hpp"

#include "coordinator/status_error.hpp"

namespace mesh::coord {

std::string normalize_hostname(std::string_view name) {
    if (name.empty()) throw StatusError(Code::invalid_argument, "hostname is empty");
    if (name.size() > 63) {
        throw StatusError(Code::invalid_argument, "hostname is longer than 63 characters");
    }
    std::string out;
    for (char c : name) {
        char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        bool ok = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '-';
        if (!ok) {
            throw StatusError(Code::invalid_argument,
                              "hostname may contain only letters, digits and '-'");
        }
        out.push_back(lower);
    }
    if (out.front() == '-' || out.back() == '-') {
        throw StatusError(Code::invalid_argument, "hostname may not start or end with '-'");
    }
    return out;
}

std::string unique_hostname(const std::string& base,
                            const std::function<bool(const std::string&)>& taken) {
    if (!taken(base)) return base;
    for (int n = 2;; ++n) {
        std::string suffix = "-" + std::to_string(n);
        std::string candidate = base.substr(0, 63 - suffix.size()) + suffix;
        if (!taken(candidate)) return candidate;
    }
}

}  // namespace mesh::coord
