#pragma once
// How a daemon's log lines look: --log-format text (spdlog's usual pattern; on the journal the
// time is left to journald and each line starts with its syslog priority, <6> for info) or json
// (one object per line, kmod-bridge/daemon/log_fields.hpp; on the journal with the priority
// too, which journald strips).
#include <spdlog/common.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mesh::daemon {

enum class LogFormat { text, json };

// "text" / "json"; nullopt otherwise.
std::optional<LogFormat> parse_log_format(std::string_view name);

// JOURNAL_STREAM's "DEVICE:INODE"; nullopt when it is not that.
std::optional<std::pair<unsigned long long, unsigned long long>> parse_journal_stream(
    std::string_view value);

// syslog priority of a level: 7 debug and trace, 6 info, 4 warn, 3 error, 2 critical.
int syslog_priority(spdlog::level::level_enum level);

// True when file descriptor `fd` is the journal stream systemd gave us (JOURNAL_STREAM).
bool fd_is_journal(int fd);

// Sets the default logger's level and formatter (it writes to stdout).
void setup_logging(LogFormat format, const std::string& level);

}  // namespace mesh::daemon
