#pragma once
// The daemons' messages to systemd (sd_notify, Type=notify units): READY=1 once they serve,
// STATUS= lines, WATCHDOG=1 pings from their main loop when the unit has WatchdogSec, and
// STOPPING=1. Without NOTIFY_SOCKET (not run by systemd) each call does nothing.
#include <chrono>
#include <string>

namespace mesh::daemon {

void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_stopping(const std::string& status);

// The watchdog's timeout from WATCHDOG_USEC (0 = no watchdog), and the period to ping at: half
// of it.
std::chrono::microseconds watchdog_timeout();
std::chrono::milliseconds watchdog_period(std::chrono::microseconds timeout);
void notify_watchdog();

}  // namespace mesh::daemon
