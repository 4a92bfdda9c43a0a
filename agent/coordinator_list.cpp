#include "agent/coordinator_list.hpp"

#include <algorithm>
#include <charconv>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "tls_pin.hpp"

namespace mesh::agent {

namespace {

// Error messages quote what they were given, escaped and cut short: a pasted blob (or a stray
// newline) stays one readable line.
std::string shown(std::string_view text) {
    return kb::escape_untrusted(text, 64);
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// The comma-separated items of `text`, counted before they are split so a huge list costs no
// more than its refusal. `what` names the items in messages ("coordinator address").
std::vector<std::string_view> split_list(std::string_view text, const char* what) {
    const auto items = static_cast<std::size_t>(std::count(text.begin(), text.end(), ',')) + 1;
    if (items > kMaxCoordinators) {
        throw Error(std::to_string(items) + " entries in the " + what + " list; at most " +
                    std::to_string(kMaxCoordinators) + " are accepted");
    }
    std::vector<std::string_view> out;
    while (true) {
        auto comma = text.find(',');
        auto item = trimmed(text.substr(0, comma));
        if (item.empty()) {
            throw Error(std::string("empty entry ") + std::to_string(out.size() + 1) + " in the " +
                        what + " list; separate entries with single commas, e.g. " +
                        (std::string_view(what) == "fingerprint"
                             ? "sha256:AAAA...,sha256:BBBB..."
                             : "192.0.2.10:7443,192.0.2.11:7443"));
        }
        out.push_back(item);
        if (comma == std::string_view::npos) return out;
        text.remove_prefix(comma + 1);
    }
}

}  // namespace

void validate_coordinator_address(const std::string& address) {
    auto colon = address.rfind(':');
    if (address.empty() || colon == std::string::npos || colon == 0 || address.size() > 255) {
        throw Error("coordinator address '" + shown(address) +
                    "' must be host:port, e.g. 192.0.2.10:7443");
    }
    // Host names and address literals are printable ASCII without spaces; a comma would be a
    // list separator.
    for (char c : address) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == ',') {
            throw Error("coordinator address '" + shown(address) +
                        "' has a character no host name or address has");
        }
    }
    unsigned port = 0;
    auto text = std::string_view(address).substr(colon + 1);
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || port == 0 ||
        port > 65535) {
        throw Error("coordinator address '" + shown(address) + "' needs a port 1..65535");
    }
}

CoordinatorList parse_coordinator_list(std::string_view addresses, std::string_view fingerprints) {
    if (trimmed(addresses).empty()) {
        throw Error("no coordinator address given; use HOST:PORT[,HOST:PORT...]");
    }
    if (trimmed(fingerprints).empty()) {
        throw Error(
            "the coordinator's certificate fingerprint is required (--fingerprint sha256:..., "
            "printed by `mesh-coordinator token create` in the join command)");
    }
    CoordinatorList list;
    for (auto item : split_list(addresses, "coordinator address")) {
        std::string address(item);
        validate_coordinator_address(address);
        for (const auto& e : list) {
            if (e.address == address) {
                throw Error("coordinator " + shown(address) +
                            " is listed twice; give each replica once");
            }
        }
        list.push_back({address, ""});
    }
    auto pins = split_list(fingerprints, "fingerprint");
    if (pins.size() != 1 && pins.size() != list.size()) {
        throw Error("--fingerprint gives " + std::to_string(pins.size()) + " fingerprints for " +
                    std::to_string(list.size()) +
                    " coordinators; give one (shared by every replica) or one per address, in the "
                    "same order");
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto pin = pins.size() == 1 ? pins[0] : pins[i];
        try {
            list[i].fingerprint = tls::parse_fingerprint(pin);
        } catch (const Error& e) {
            // The parser quotes what it was given as it is: escaped here, so it stays one line.
            auto why = kb::escape_untrusted(e.what(), 512);
            throw Error(pins.size() == 1 ? why
                                         : "fingerprint " + std::to_string(i + 1) + " (for " +
                                               shown(list[i].address) + "): " + why);
        }
    }
    return list;
}

std::string format_addresses(const CoordinatorList& list) {
    std::string out;
    for (const auto& e : list) out += (out.empty() ? "" : ",") + e.address;
    return out;
}

std::string format_fingerprints(const CoordinatorList& list) {
    const bool shared = std::all_of(list.begin(), list.end(), [&](const CoordinatorEntry& e) {
        return e.fingerprint == list.front().fingerprint;
    });
    if (shared) return list.empty() ? "" : list.front().fingerprint;
    std::string out;
    for (const auto& e : list) out += (out.empty() ? "" : ",") + e.fingerprint;
    return out;
}

bool shares_fingerprint(const CoordinatorList& a, const CoordinatorList& b) {
    for (const auto& x : a) {
        if (x.fingerprint.empty()) continue;
        for (const auto& y : b) {
            if (x.fingerprint == y.fingerprint) return true;
        }
    }
    return false;
}

}  // namespace mesh::agent
