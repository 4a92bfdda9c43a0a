#include "kmod-bridge/daemon/log_output.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "kmod-bridge/daemon/log_fields.hpp"

namespace mesh::daemon {

namespace {

std::string utc_time(spdlog::log_clock::time_point tp) {
    const auto since = tp.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
    const std::time_t t = secs.count();
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    return buf;
}

class DaemonFormatter : public spdlog::formatter {
  public:
    DaemonFormatter(LogFormat format, bool journal) : format_(format), journal_(journal) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        if (journal_) {
            const auto prefix = "<" + std::to_string(syslog_priority(msg.level)) + ">";
            dest.append(prefix.data(), prefix.data() + prefix.size());
        }
        const std::string_view payload(msg.payload.data(), msg.payload.size());
        if (format_ == LogFormat::json) {
            const auto level = spdlog::level::to_string_view(msg.level);
            const auto line = log_json(utc_time(msg.time), {level.data(), level.size()}, payload);
            dest.append(line.data(), line.data() + line.size());
            dest.push_back('\n');
        } else if (journal_) {
            dest.append(payload.data(), payload.data() + payload.size());
            dest.push_back('\n');
        } else {
            text_.format(msg, dest);
        }
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<DaemonFormatter>(format_, journal_);
    }

  private:
    LogFormat format_;
    bool journal_;
    spdlog::pattern_formatter text_;  // spdlog's default pattern, as before
};

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view name) {
    if (name == "text") return LogFormat::text;
    if (name == "json") return LogFormat::json;
    return std::nullopt;
}

std::optional<std::pair<unsigned long long, unsigned long long>> parse_journal_stream(
    std::string_view value) {
    const auto colon = value.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == value.size()) {
        return std::nullopt;
    }
    auto number = [](std::string_view s) -> std::optional<unsigned long long> {
        if (s.empty() || s.size() > 19) return std::nullopt;
        unsigned long long n = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return std::nullopt;
            n = n * 10 + static_cast<unsigned>(c - '0');
        }
        return n;
    };
    auto dev = number(value.substr(0, colon));
    auto ino = number(value.substr(colon + 1));
    if (!dev || !ino) return std::nullopt;
    return std::make_pair(*dev, *ino);
}

int syslog_priority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return 7;
        case spdlog::level::info:
            return 6;
        case spdlog::level::warn:
            return 4;
        case spdlog::level::err:
            return 3;
        case spdlog::level::critical:
            return 2;
        default:
            return 6;
    }
}

bool fd_is_journal(int fd) {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (!env) return false;
    auto want = parse_journal_stream(env);
    struct stat st {};
    if (!want || ::fstat(fd, &st) != 0) return false;
    return static_cast<unsigned long long>(st.st_dev) == want->first &&
           static_cast<unsigned long long>(st.st_ino) == want->second;
}

void setup_logging(LogFormat format, const std::string& level) {
    spdlog::set_level(spdlog::level::from_str(level));
    spdlog::set_formatter(std::make_unique<DaemonFormatter>(format, fd_is_journal(STDOUT_FILENO)));
}

}  // namespace mesh::daemon
