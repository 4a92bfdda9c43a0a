#pragma once
// The agent's one thread for the WireGuard port's side channel: it waits on the raw STUN socket
// and on rtnetlink events, and wakes the agent for datagrams, network changes (after a short
// settling delay, so one move's burst of events is handled once) and timers; it sends what the
// agent returns. The agent decides; this only does the I/O.
#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "agent/netlink_monitor.hpp"
#include "agent/path_engine.hpp"
#include "agent/raw_udp.hpp"

namespace mesh::agent {

class NetworkLoop {
  public:
    struct Handlers {
        std::function<std::vector<Datagram>(const Datagram&, TimePoint)> on_datagram;
        std::function<void(TimePoint)> on_network_change;
        // Runs due work; returns what to send and when to be called again.
        std::function<std::vector<Datagram>(TimePoint, TimePoint& next)> on_timer;
    };

    // Opens the raw socket on `port` and the rtnetlink monitor; throws mesh::Error.
    NetworkLoop(std::uint16_t port, const std::string& mesh_interface, Handlers handlers);
    ~NetworkLoop();
    NetworkLoop(const NetworkLoop&) = delete;
    NetworkLoop& operator=(const NetworkLoop&) = delete;

    void start();
    void stop();  // idempotent; joins the thread
    void wake();  // run the timers now (the agent has new work)

  private:
    void run();
    void send(const std::vector<Datagram>& out);

    Handlers handlers_;
    RawUdpPort port_;
    NetlinkMonitor monitor_;
    int wake_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace mesh::agent
