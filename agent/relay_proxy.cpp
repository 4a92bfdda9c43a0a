#include "agent/relay_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::agent {

namespace {

using kb::Endpoint;
constexpr std::size_t kBatch = 32;
constexpr std::size_t kDatagram = 4096;  // WireGuard's packets are at most the MTU (+ headers)
constexpr int kBatchesPerWake = 8;       // then the other sockets get their turn

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& out) {
    std::memset(&out, 0, sizeof out);
    if (e.address.is_v4()) {
        auto* a = reinterpret_cast<sockaddr_in*>(&out);
        a->sin_family = AF_INET;
        a->sin_port = htons(e.port);
        std::memcpy(&a->sin_addr, e.address.bytes.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* a = reinterpret_cast<sockaddr_in6*>(&out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(e.port);
    std::memcpy(&a->sin6_addr, e.address.bytes.data(), 16);
    return sizeof(sockaddr_in6);
}

// A UDP socket connected to `to`; on_loopback: bound to 127.0.0.1 (any port) first.
int connected_udp(const Endpoint& to, bool on_loopback) {
    sockaddr_storage addr{};
    socklen_t len = to_sockaddr(to, addr);
    int fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw Error(std::string("relay: cannot open a UDP socket: ") + std::strerror(errno));
    if (on_loopback) {
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            int e = errno;
            ::close(fd);
            throw Error(std::string("relay: cannot bind a loopback socket: ") + std::strerror(e));
        }
    }
    // Room for bursts (a TCP flow's window) while the proxy thread catches up: 4 MiB, beyond
    // net.core.rmem_max where the process may (root: SO_RCVBUFFORCE).
    const int buffer = 4 << 20;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    }
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        int e = errno;
        ::close(fd);
        throw Error("relay: cannot reach " + to.to_string() + ": " + std::strerror(e));
    }
    return fd;
}

Endpoint local_endpoint(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return Endpoint::parse("127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
}

// Up to kBatch datagrams from a nonblocking socket.
std::vector<std::vector<std::uint8_t>> receive_batch(int fd) {
    static thread_local std::array<std::array<std::uint8_t, kDatagram>, kBatch> buffers;
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msgs{};
    for (std::size_t i = 0; i < kBatch; ++i) {
        iov[i] = {buffers[i].data(), buffers[i].size()};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    std::vector<std::vector<std::uint8_t>> out;
    int n = ::recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    for (int i = 0; i < n; ++i) {
        out.emplace_back(buffers[i].begin(), buffers[i].begin() + msgs[i].msg_len);
    }
    return out;
}

// Sends on a connected socket in batches; what the kernel refuses is dropped (UDP).
void send_batch(int fd, const std::vector<const std::vector<std::uint8_t>*>& datagrams) {
    for (std::size_t start = 0; start < datagrams.size(); start += kBatch) {
        const std::size_t count = std::min(kBatch, datagrams.size() - start);
        std::array<iovec, kBatch> iov{};
        std::array<mmsghdr, kBatch> msgs{};
        for (std::size_t i = 0; i < count; ++i) {
            auto* d = datagrams[start + i];
            iov[i] = {const_cast<std::uint8_t*>(d->data()), d->size()};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    }
}

}  // namespace

RelayProxy::RelayProxy(RelayCredential credential, std::uint16_t wireguard_port,
                       std::function<void()> on_change)
    : wireguard_port_(wireguard_port), on_change_(std::move(on_change)) {
    server_ = credential.server;
    credential_ = credential;
    server_fd_ = connected_udp(server_, false);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        ::close(server_fd_);
        throw Error(std::string("relay: eventfd: ") + std::strerror(errno));
    }
    allocation_ =
        std::make_unique<RelayAllocation>(std::move(credential), RelayAllocation::Clock::now());
}

RelayProxy::~RelayProxy() {
    stop();
    for (auto& [id, p] : peers_) ::close(p.fd);
    if (server_fd_ >= 0) ::close(server_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void RelayProxy::start() {
    thread_ = std::thread([this] { run(); });
}

void RelayProxy::stop() {
    stopping_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
}

void RelayProxy::wake() {
    if (wake_fd_ < 0) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

std::map<std::string, Endpoint> RelayProxy::set_peers(
    const std::map<std::string, Endpoint>& peers) {
    std::map<std::string, Endpoint> out;
    std::vector<int> retired;
    {
        std::lock_guard lock(mutex_);
        for (auto it = peers_.begin(); it != peers_.end();) {
            if (!peers.contains(it->first)) {
                retired.push_back(it->second.fd);
                it = peers_.erase(it);
                peers_changed_ = true;
            } else {
                ++it;
            }
        }
        const Endpoint wireguard = Endpoint::parse("127.0.0.1:" + std::to_string(wireguard_port_));
        for (const auto& [id, relay] : peers) {
            auto it = peers_.find(id);
            if (it == peers_.end()) {
                // Connected to the device's port: only the device's packets come in on it.
                int fd = connected_udp(wireguard, true);
                it = peers_.emplace(id, Peer{relay, fd, local_endpoint(fd)}).first;
                peers_changed_ = true;
            } else if (it->second.relay != relay) {
                it->second.relay = relay;
                peers_changed_ = true;
            }
            out[id] = it->second.local;
        }
    }
    // Closed by the thread once it no longer polls them (it copies the set when woken).
    if (!retired.empty()) {
        std::lock_guard lock(mutex_);
        retired_.insert(retired_.end(), retired.begin(), retired.end());
    }
    wake();
    return out;
}

void RelayProxy::set_credential(RelayCredential credential) {
    {
        std::lock_guard lock(mutex_);
        credential_ = std::move(credential);
        credential_changed_ = true;
    }
    wake();
}

void RelayProxy::reallocate() {
    {
        std::lock_guard lock(mutex_);
        reallocate_ = true;
    }
    wake();
}

RelayProxy::Status RelayProxy::status() const {
    Status s;
    {
        std::lock_guard lock(mutex_);
        s = status_;
    }
    s.packets_to_relay = to_relay_;
    s.packets_from_relay = from_relay_;
    s.dropped = dropped_;
    return s;
}

void RelayProxy::flush_to_server() {
    if (to_server_.empty()) return;
    std::vector<const std::vector<std::uint8_t>*> batch;
    for (const auto& bytes : to_server_) batch.push_back(&bytes);
    send_batch(server_fd_, batch);
    to_server_.clear();
}

void RelayProxy::drain_server() {
    for (int round = 0; round < kBatchesPerWake; ++round) {
        auto datagrams = receive_batch(server_fd_);
        if (datagrams.empty()) return;
        std::map<int, std::vector<std::vector<std::uint8_t>>> to_device;
        const auto now = RelayAllocation::Clock::now();
        for (auto& d : datagrams) {
            std::optional<Endpoint> from;
            std::vector<std::uint8_t> payload;
            if (auto frame = kb::turn::decode_channel_data(d)) {
                from = allocation_->peer_for(frame->channel);
                payload.assign(frame->data.begin(), frame->data.end());
            } else if (allocation_->receive(d, now)) {
                continue;  // an answer to the allocation's own requests
            } else if (auto m = kb::turn::decode(d); m && m->method == kb::turn::Method::data &&
                                                     m->cls == kb::turn::Class::indication &&
                                                     m->peers.size() == 1 && m->data) {
                from = m->peers.front();
                payload = std::move(*m->data);
            }
            // Only what comes from a relayed peer's own address goes on (the server's
            // permissions are per IP address: the port is checked here).
            const Peer* peer = nullptr;
            if (from) {
                for (const auto& [id, p] : thread_peers_) {
                    if (p.relay == *from) peer = &p;
                }
            }
            if (!peer) {
                ++dropped_;
                continue;
            }
            ++from_relay_;
            to_device[peer->fd].push_back(std::move(payload));
        }
        for (auto& [fd, list] : to_device) {
            std::vector<const std::vector<std::uint8_t>*> batch;
            for (const auto& b : list) batch.push_back(&b);
            send_batch(fd, batch);
        }
    }
}

void RelayProxy::drain_local(const Peer& peer) {
    for (int round = 0; round < kBatchesPerWake; ++round) {
        auto datagrams = receive_batch(peer.fd);
        if (datagrams.empty()) return;
        for (auto& d : datagrams) {
            if (allocation_->state() != RelayAllocation::State::allocated) {
                ++dropped_;
                continue;
            }
            std::vector<std::uint8_t> framed;
            if (auto channel = allocation_->channel_for(peer.relay)) {
                kb::turn::encode_channel_data(*channel, d, framed);
            } else {
                kb::turn::Message send;
                send.method = kb::turn::Method::send;
                send.cls = kb::turn::Class::indication;
                send.transaction = kb::turn::new_transaction();
                send.peers = {peer.relay};
                send.data = std::move(d);
                framed = kb::turn::encode(send, nullptr, false);
            }
            ++to_relay_;
            to_server_.push_back(std::move(framed));
        }
        flush_to_server();
    }
}

void RelayProxy::run() {
    auto failed_since = RelayAllocation::TimePoint{};
    auto retry_after = std::chrono::seconds(2);
    while (!stopping_) {
        std::vector<int> closing;
        {
            std::lock_guard lock(mutex_);
            if (peers_changed_) {
                thread_peers_ = peers_;
                peers_changed_ = false;
                std::vector<Endpoint> relays;
                for (const auto& [id, p] : thread_peers_) relays.push_back(p.relay);
                allocation_->set_peers(relays, RelayAllocation::Clock::now());
            }
            closing.swap(retired_);
            if (credential_changed_) {
                allocation_->set_credential(credential_);
                credential_changed_ = false;
            }
            if (reallocate_) {
                reallocate_ = false;
                const auto now = RelayAllocation::Clock::now();
                allocation_ = std::make_unique<RelayAllocation>(credential_, now);
                std::vector<Endpoint> relays;
                for (const auto& [id, p] : thread_peers_) relays.push_back(p.relay);
                allocation_->set_peers(relays, now);
                spdlog::info("event=relay_reallocating server={} reason=mapping_changed",
                             server_.to_string());
            }
        }
        for (int fd : closing) ::close(fd);
        if (stopping_) break;

        auto now = RelayAllocation::Clock::now();
        if (allocation_->state() == RelayAllocation::State::failed) {
            if (failed_since == RelayAllocation::TimePoint{}) failed_since = now;
            if (now - failed_since >= retry_after) {
                // Again from the start, with backoff (2 s doubling to 60 s).
                RelayCredential credential;
                {
                    std::lock_guard lock(mutex_);
                    credential = credential_;
                }
                allocation_ = std::make_unique<RelayAllocation>(credential, now);
                std::vector<Endpoint> relays;
                for (const auto& [id, p] : thread_peers_) relays.push_back(p.relay);
                allocation_->set_peers(relays, now);
                failed_since = {};
                retry_after = std::min(retry_after * 2, std::chrono::seconds(60));
            }
        }
        for (auto& bytes : allocation_->poll(now)) to_server_.push_back(std::move(bytes));
        flush_to_server();

        std::vector<pollfd> fds = {{server_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        std::vector<std::pair<std::string, Peer>> polled(thread_peers_.begin(),
                                                         thread_peers_.end());
        for (const auto& [id, p] : polled) fds.push_back({p.fd, POLLIN, 0});
        auto next = allocation_->next_wakeup();
        if (allocation_->state() == RelayAllocation::State::failed)
            next = now + std::chrono::milliseconds(500);
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
        int timeout = static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, 1000));
        if (next == RelayAllocation::TimePoint::min()) timeout = 0;
        int ready = ::poll(fds.data(), fds.size(), timeout);
        if (ready < 0 && errno != EINTR) break;
        if (fds[1].revents & POLLIN) {
            std::uint64_t value = 0;
            [[maybe_unused]] auto n = ::read(wake_fd_, &value, sizeof value);
        }
        if (fds[0].revents & POLLIN) drain_server();
        for (std::size_t i = 0; i < polled.size(); ++i) {
            if (fds[2 + i].revents & POLLIN) drain_local(polled[i].second);
        }

        bool changed = false;
        {
            std::lock_guard lock(mutex_);
            const auto state = allocation_->state();
            const auto& relayed = allocation_->relayed();
            std::set<Endpoint> bound;
            for (const auto& [id, p] : thread_peers_) {
                if (allocation_->channel_for(p.relay)) bound.insert(p.relay);
            }
            changed =
                status_.state != state || status_.relayed != relayed || status_.ready != bound;
            status_.ready = std::move(bound);
            if (state == RelayAllocation::State::allocated) retry_after = std::chrono::seconds(2);
            status_.state = state;
            status_.relayed = relayed;
            status_.error = allocation_->error();
        }
        if (changed) {
            spdlog::info(
                "event=relay_state server={} state={} relayed={} error={}", server_.to_string(),
                status_.state == RelayAllocation::State::allocated ? "allocated"
                : status_.state == RelayAllocation::State::failed  ? "failed"
                                                                   : "allocating",
                status_.relayed ? status_.relayed->to_string() : "-", kb::log_quote(status_.error));
            if (on_change_) on_change_();
        }
    }
    // Leaving: the server frees the allocation now (best effort, one datagram).
    if (auto release = allocation_->release()) {
        to_server_.push_back(std::move(*release));
        flush_to_server();
    }
}

}  // namespace mesh::agent
