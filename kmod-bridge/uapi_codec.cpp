#include "kmod-bridge/uapi_codec.hpp"

#include <charconv>
#include <limits>
#include <set>
#include <system_error>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::kb {

namespace {

// Untrusted text goes into error messages only shortened and with control bytes replaced, so a
// hostile reply cannot flood or forge log lines.
std::string printable(std::string_view text) {
    return escape_untrusted(text, 48);
}

template <typename T>
T parse_number(std::string_view value, T min, T max, std::string_view what) {
    T n{};
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || n < min ||
        n > max) {
        throw Error(std::string(what) + " '" + printable(value) + "' is not a number in " +
                    std::to_string(min) + ".." + std::to_string(max));
    }
    return n;
}

void add_line(std::string& out, std::string_view key, std::string_view value) {
    out.append(key).append("=").append(value).append("\n");
}

// Splits a reply into lines, enforcing the size bounds and the terminating blank line.
class LineReader {
  public:
    explicit LineReader(std::string_view text) : text_(text) {
        if (text.size() > kUapiMaxReplyBytes) {
            throw Error("UAPI reply is " + std::to_string(text.size()) + " bytes, over the " +
                        std::to_string(kUapiMaxReplyBytes) + "-byte limit");
        }
    }

    // The next line without its '\n'; nullopt at the blank line that must end the reply.
    std::optional<std::string_view> next() {
        ++number_;
        auto nl = text_.find('\n', pos_);
        if (nl == std::string_view::npos) {
            throw Error("UAPI reply is truncated (no end of line after " + std::to_string(pos_) +
                        " bytes)");
        }
        if (nl - pos_ > kUapiMaxLineBytes) {
            throw Error("UAPI reply line " + std::to_string(number_) + " is longer than " +
                        std::to_string(kUapiMaxLineBytes) + " bytes");
        }
        auto line = text_.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        if (!line.empty()) return line;
        if (pos_ != text_.size()) throw Error("UAPI reply has data after its closing blank line");
        return std::nullopt;
    }

    unsigned number() const { return number_; }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
    unsigned number_ = 0;
};

std::pair<std::string_view, std::string_view> split_key_value(std::string_view line) {
    auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        throw Error("'" + printable(line) + "' is not a key=value line");
    }
    return {line.substr(0, eq), line.substr(eq + 1)};
}

int parse_errno_value(std::string_view value) {
    return parse_number<int>(value, -4095, 4095, "errno");
}

// Reads the lines of a get reply into a DeviceState, one line at a time.
class GetParser {
  public:
    // Lines before the first public_key describe the device, later ones the latest peer; the
    // errno line comes last.
    void line(std::string_view key, std::string_view value) {
        if (errno_) throw Error("'" + printable(key) + "' after the errno line");
        if (key == "errno") {
            errno_ = parse_errno_value(value);
        } else if (key == "public_key") {
            start_peer(value);
        } else if (peer_ == nullptr) {
            device_line(key, value);
        } else {
            peer_line(key, value);
        }
    }

    DeviceState finish() {
        if (!errno_) throw Error("UAPI reply is truncated (no errno line)");
        if (*errno_ != 0) throw Error("the device refused the get: " + describe_errno(*errno_));
        return std::move(state_);
    }

  private:
    void once(std::string_view key) {
        if (!seen_.emplace(key).second) throw Error("'" + printable(key) + "' appears twice");
    }

    void device_line(std::string_view key, std::string_view value) {
        once(key);
        if (key == "private_key") {
            auto k = Key::from_hex(value);
            if (!k.is_zero()) state_.private_key = k;
        } else if (key == "listen_port") {
            state_.listen_port = parse_number<std::uint16_t>(value, 0, 65535, "listen_port");
        } else if (key == "fwmark") {
            state_.fwmark = parse_number<std::uint32_t>(
                value, 0, std::numeric_limits<std::uint32_t>::max(), "fwmark");
        } else {
            throw Error("unknown device key '" + printable(key) + "'");
        }
    }

    void start_peer(std::string_view value) {
        auto key = Key::from_hex(value);
        if (!peer_keys_.insert(key).second)
            throw Error("peer " + key.to_base64() + " appears twice");
        state_.peers.emplace_back().config.public_key = key;
        peer_ = &state_.peers.back();
        seen_.clear();
    }

    void peer_line(std::string_view key, std::string_view value) {
        if (key == "allowed_ip") {
            peer_->config.allowed_ips.push_back(IpPrefix::parse(value, true).masked());
            return;
        }
        once(key);
        constexpr auto u64max = std::numeric_limits<std::uint64_t>::max();
        if (key == "endpoint") {
            peer_->config.endpoint = Endpoint::parse(value);
        } else if (key == "persistent_keepalive_interval") {
            peer_->config.persistent_keepalive =
                parse_number<std::uint16_t>(value, 0, 65535, "persistent_keepalive_interval");
        } else if (key == "last_handshake_time_sec") {
            peer_->last_handshake_sec = parse_number<std::int64_t>(
                value, 0, std::numeric_limits<std::int64_t>::max(), "last_handshake_time_sec");
        } else if (key == "last_handshake_time_nsec") {
            peer_->last_handshake_nsec =
                parse_number<std::int64_t>(value, 0, 999'999'999, "last_handshake_time_nsec");
        } else if (key == "tx_bytes") {
            peer_->tx_bytes = parse_number<std::uint64_t>(value, 0, u64max, "tx_bytes");
        } else if (key == "rx_bytes") {
            peer_->rx_bytes = parse_number<std::uint64_t>(value, 0, u64max, "rx_bytes");
        } else if (key == "preshared_key") {
            Key::from_hex(value);  // validated, not kept: the mesh does not use preshared keys
        } else if (key == "protocol_version") {
            parse_number<int>(value, 1, 1, "protocol_version");
        } else {
            throw Error("unknown peer key '" + printable(key) + "'");
        }
    }

    DeviceState state_;
    PeerState* peer_ = nullptr;  // the peer later lines belong to; null before the first
    std::set<Key> peer_keys_;
    std::set<std::string, std::less<>> seen_;  // keys of the current section, to refuse repeats
    std::optional<int> errno_;
};

}  // namespace

std::string encode_set(const DeviceUpdate& update) {
    std::string out = "set=1\n";
    if (update.private_key) add_line(out, "private_key", update.private_key->to_hex());
    if (update.listen_port) add_line(out, "listen_port", std::to_string(*update.listen_port));
    if (update.replace_peers) add_line(out, "replace_peers", "true");
    for (const auto& peer : update.peers) {
        add_line(out, "public_key", peer.public_key.to_hex());
        if (peer.remove) {
            add_line(out, "remove", "true");
            continue;  // anything after remove would be applied to a throwaway peer
        }
        if (peer.update_only) add_line(out, "update_only", "true");
        if (peer.endpoint) add_line(out, "endpoint", peer.endpoint->to_string());
        if (peer.persistent_keepalive) {
            add_line(out, "persistent_keepalive_interval",
                     std::to_string(*peer.persistent_keepalive));
        }
        if (peer.replace_allowed_ips) add_line(out, "replace_allowed_ips", "true");
        for (const auto& prefix : peer.allowed_ips) add_line(out, "allowed_ip", prefix.to_string());
    }
    out += "\n";
    return out;
}

DeviceState decode_get(std::string_view reply) {
    LineReader reader(reply);
    GetParser parser;
    try {
        while (auto line = reader.next()) {
            auto [key, value] = split_key_value(*line);
            parser.line(key, value);
        }
    } catch (const Error& e) {
        throw Error("UAPI get reply, line " + std::to_string(reader.number()) + ": " + e.what());
    }
    return parser.finish();
}

int decode_errno(std::string_view reply) {
    LineReader reader(reply);
    auto line = reader.next();
    if (!line) throw Error("UAPI set reply is empty");
    auto [key, value] = split_key_value(*line);
    if (key != "errno") throw Error("UAPI set reply starts with '" + printable(key) + "'");
    int n = parse_errno_value(value);
    if (reader.next()) throw Error("UAPI set reply has more than an errno line");
    return n;
}

std::string describe_errno(int uapi_errno) {
    int magnitude = uapi_errno < 0 ? -uapi_errno : uapi_errno;
    return "errno=" + std::to_string(uapi_errno) + " (" +
           std::generic_category().message(magnitude) + ")";
}

}  // namespace mesh::kb
