#include "agent/network_loop.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::agent {

namespace {
// rtnetlink reports a move as several events (link, addresses, routes) over a few milliseconds.
constexpr auto kSettle = std::chrono::milliseconds(20);
constexpr auto kMaxSleep = std::chrono::milliseconds(1000);
constexpr int kMaxDatagramsPerWakeup = 64;
}  // namespace

NetworkLoop::NetworkLoop(std::uint16_t port, const std::string& mesh_interface, Handlers handlers)
    : handlers_(std::move(handlers)), port_(port), monitor_(mesh_interface) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw Error(std::string("eventfd: ") + std::strerror(errno));
}

NetworkLoop::~NetworkLoop() {
    stop();
    ::close(wake_fd_);
}

void NetworkLoop::start() {
    thread_ = std::thread([this] { run(); });
}

void NetworkLoop::stop() {
    stopping_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
}

void NetworkLoop::wake() {
    std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
}

void NetworkLoop::send(const std::vector<Datagram>& out) {
    for (const auto& d : out) {
        if (!port_.send(d.peer, d.bytes)) {
            spdlog::debug("event=probe_send_failed to={}", d.peer.to_string());
        }
    }
}

void NetworkLoop::run() {
    TimePoint next = Clock::now();
    std::optional<TimePoint> network_changed_at;
    while (!stopping_) {
        auto now = Clock::now();
        auto wake_at = std::min(next, now + kMaxSleep);
        if (network_changed_at) wake_at = std::min(wake_at, *network_changed_at + kSettle);
        // Rounded up: a wait of 0.x ms polled with timeout 0 would spin until the deadline.
        auto timeout = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now);
        pollfd fds[] = {
            {port_.receive_fd(), POLLIN, 0}, {monitor_.fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        int ready = ::poll(fds, 3, static_cast<int>(std::max<long>(0, timeout.count())));
        if (ready < 0 && errno != EINTR) {
            spdlog::error("event=network_loop_failed error={}",
                          kb::log_quote(std::strerror(errno)));
            return;
        }
        if (fds[2].revents & POLLIN) {
            std::uint64_t count;
            (void)!::read(wake_fd_, &count, sizeof count);
            next = Clock::now();
        }
        if ((fds[1].revents & POLLIN) && monitor_.drain() && !network_changed_at) {
            network_changed_at = Clock::now();
        }
        if (fds[0].revents & POLLIN) {
            // Bounded, so a flood of datagrams cannot starve the timers, events and stop().
            for (int i = 0; i < kMaxDatagramsPerWakeup && !stopping_; ++i) {
                auto d = port_.receive();
                if (!d) break;
                send(handlers_.on_datagram(Datagram{d->from, std::move(d->payload)}, Clock::now()));
            }
            next = Clock::now();  // a probe may have asked for an immediate probe back
        }
        now = Clock::now();
        if (network_changed_at && now >= *network_changed_at + kSettle) {
            network_changed_at.reset();
            handlers_.on_network_change(now);
            next = now;
        }
        if (now >= next) send(handlers_.on_timer(now, next));
    }
}

}  // namespace mesh::agent
