#include "kmod-bridge/daemon/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>

namespace mesh::daemon {

namespace {

// One line of STATUS=: no newline can start another assignment.
std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s;
}

void send(const std::string& message) {
    sd_notify(0, message.c_str());
}

}  // namespace

void notify_ready(const std::string& status) {
    send("READY=1\nSTATUS=" + one_line(status));
}

void notify_status(const std::string& status) {
    send("STATUS=" + one_line(status));
}

void notify_stopping(const std::string& status) {
    send("STOPPING=1\nSTATUS=" + one_line(status));
}

std::chrono::microseconds watchdog_timeout() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds(0);
    return std::chrono::microseconds(usec);
}

std::chrono::milliseconds watchdog_period(std::chrono::microseconds timeout) {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(timeout / 2));
}

void notify_watchdog() {
    send("WATCHDOG=1");
}

}  // namespace mesh::daemon
