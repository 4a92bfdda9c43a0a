#include "agent/relay_proxy.hpp"

#include "agent/udp_batch.hpp"

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

using kb::Endpoint;
constexpr int kBatchesPerWake = 8;  // then the other sockets get their turn

RelayProxy::RelayProxy(std::vector<RelayCredential> servers, std::uint16_t wireguard_port,
                       std::function<void()> on_change)
    : wireguard_port_(wireguard_port), on_change_(std::move(on_change)) {
    if (servers.empty()) throw Error("relay: no TURN server to use");
    servers_ = servers;
    thread_servers_ = std::move(servers);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw Error(std::string("relay: eventfd: ") + std::strerror(errno));
    start_allocation(RelayAllocation::Clock::now());
}

RelayProxy::~RelayProxy() {
    stop();
    for (auto& [id, p] : peers_) ::close(p.fd);
    for (int fd : retired_) ::close(fd);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

// A fresh connection and allocation on the current server. UDP gets 4 tries over 3.75 s when
// a TCP or TLS server follows (a site that drops UDP should not wait 8 s for them), 5 else; a
// stream sends once and waits 3 s, or 5 s when it is the last server (connecting and the TLS
// handshake included).
void RelayProxy::start_allocation(RelayAllocation::TimePoint now) {
    const auto& server = thread_servers_.at(server_index_);
    const bool last = server_index_ + 1 == thread_servers_.size();
    int attempts = server.transport == RelayTransportKind::udp ? (last ? 5 : 4) : 1;
    // A stream's one try covers connect, TLS and Allocate: a connect that has had no answer
    // to its SYN and to the one retransmission 1 s later is most likely blocked when another
    // server follows; the last one is given longer.
    auto first_timeout = server.transport == RelayTransportKind::udp
                             ? std::chrono::milliseconds(250)
                         : last ? std::chrono::milliseconds(5000)
                                : std::chrono::milliseconds(3000);
    allocation_ = std::make_unique<RelayAllocation>(server, now, attempts, first_timeout);
    std::vector<Endpoint> relays;
    for (const auto& [id, p] : thread_peers_) relays.push_back(p.relay);
    allocation_->set_peers(relays, now);
    to_server_.clear();
    try {
        transport_ = std::make_unique<RelayTransport>(server);
    } catch (const std::exception& e) {
        transport_.reset();
        transport_error_ = e.what();
    }
}

RelayAllocation::State RelayProxy::state() const {
    if (!transport_ || transport_->failed()) return RelayAllocation::State::failed;
    return allocation_->state();
}

// The current server failed: the next one at once, or after the last, the first again once
// retry_after passed (2 s doubling to 60 s; back to 2 s once one allocates).
void RelayProxy::next_server(RelayAllocation::TimePoint now, std::chrono::seconds& retry_after) {
    ++server_index_;
    if (server_index_ < thread_servers_.size()) {
        const std::string why = !transport_            ? transport_error_
                                : transport_->failed() ? transport_->error()
                                                       : allocation_->error();
        spdlog::info("event=relay_next_server server={} error={}",
                     kb::log_quote(relay_server_text(thread_servers_[server_index_])),
                     kb::log_quote(why));
        start_allocation(now);
        return;
    }
    server_index_ = 0;
    start_allocation(now);
    retry_after = std::min(retry_after * 2, std::chrono::seconds(60));
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
                int fd = connected_socket(wireguard, SOCK_DGRAM, true);
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

void RelayProxy::set_servers(std::vector<RelayCredential> servers) {
    if (servers.empty()) return;
    {
        std::lock_guard lock(mutex_);
        servers_ = std::move(servers);
        servers_changed_ = true;
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
    if (transport_) transport_->send(to_server_);
    to_server_.clear();
}

void RelayProxy::drain_server(short revents) {
    for (int round = 0; round < kBatchesPerWake && transport_; ++round) {
        auto datagrams = transport_->service(revents);
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
                kb::turn::encode_channel_data(*channel, d, framed, transport_->stream());
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
        const auto now = RelayAllocation::Clock::now();
        {
            std::lock_guard lock(mutex_);
            if (peers_changed_) {
                thread_peers_ = peers_;
                peers_changed_ = false;
                std::vector<Endpoint> relays;
                for (const auto& [id, p] : thread_peers_) relays.push_back(p.relay);
                allocation_->set_peers(relays, now);
            }
            closing.swap(retired_);
            if (servers_changed_) {
                servers_changed_ = false;
                // The same server (address and transport) takes the renewed credential; a
                // list that no longer has it starts over with the new one.
                const auto& current = thread_servers_.at(server_index_);
                auto same = std::find_if(servers_.begin(), servers_.end(), [&](const auto& c) {
                    return c.server == current.server && c.transport == current.transport;
                });
                thread_servers_ = servers_;
                if (same != servers_.end()) {
                    server_index_ = static_cast<std::size_t>(same - servers_.begin());
                    allocation_->set_credential(*same);
                } else {
                    server_index_ = 0;
                    start_allocation(now);
                }
            }
            if (reallocate_) {
                reallocate_ = false;
                start_allocation(now);
                spdlog::info("event=relay_reallocating server={} reason=mapping_changed",
                             kb::log_quote(relay_server_text(thread_servers_.at(server_index_))));
            }
        }
        for (int fd : closing) ::close(fd);
        if (stopping_) break;

        // A connection that broke ends its allocation too (a stream's is bound to it).
        const bool failed = state() == RelayAllocation::State::failed;
        if (failed) {
            if (failed_since == RelayAllocation::TimePoint{}) failed_since = now;
            const bool more = server_index_ + 1 < thread_servers_.size();
            if (more || now - failed_since >= retry_after) {
                next_server(now, retry_after);
                failed_since = {};
            }
        }
        if (transport_ && !transport_->failed()) {
            for (auto& bytes : allocation_->poll(now)) to_server_.push_back(std::move(bytes));
            flush_to_server();
        }

        std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}};
        const bool polling_server = transport_ && !transport_->failed();
        if (polling_server) fds.push_back({transport_->fd(), transport_->poll_events(), 0});
        const std::size_t first_peer = fds.size();
        std::vector<std::pair<std::string, Peer>> polled(thread_peers_.begin(),
                                                         thread_peers_.end());
        for (const auto& [id, p] : polled) fds.push_back({p.fd, POLLIN, 0});
        auto next = allocation_->next_wakeup();
        if (failed) next = now + std::chrono::milliseconds(500);
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
        int timeout = static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, 1000));
        if (next == RelayAllocation::TimePoint::min()) timeout = 0;
        int ready = ::poll(fds.data(), fds.size(), timeout);
        if (ready < 0 && errno != EINTR) break;
        if (fds[0].revents & POLLIN) {
            std::uint64_t value = 0;
            [[maybe_unused]] auto n = ::read(wake_fd_, &value, sizeof value);
        }
        if (polling_server && fds[1].revents) drain_server(fds[1].revents);
        for (std::size_t i = 0; i < polled.size(); ++i) {
            if (fds[first_peer + i].revents & POLLIN) drain_local(polled[i].second);
        }
        if (allocation_->state() == RelayAllocation::State::allocated) {
            retry_after = std::chrono::seconds(2);
        }
        publish_status();
    }
    // Leaving: the server frees the allocation now (best effort, one message).
    if (auto release = allocation_->release(); release && transport_) {
        to_server_.push_back(std::move(*release));
        flush_to_server();
    }
}

// What the agent reads (status(), and a call of on_change when it changed).
void RelayProxy::publish_status() {
    bool changed = false;
    std::string server = relay_server_text(thread_servers_.at(server_index_));
    {
        std::lock_guard lock(mutex_);
        const auto state = this->state();
        const auto& relayed = allocation_->relayed();
        std::set<Endpoint> bound;
        for (const auto& [id, p] : thread_peers_) {
            if (allocation_->channel_for(p.relay)) bound.insert(p.relay);
        }
        std::string error = allocation_->error();
        if (!transport_) error = transport_error_;
        if (transport_ && transport_->failed()) error = transport_->error();
        changed = status_.state != state || status_.relayed != relayed || status_.ready != bound ||
                  status_.server != server;
        status_.ready = std::move(bound);
        status_.state = state;
        status_.relayed = relayed;
        status_.server = server;
        status_.error = error;
    }
    if (!changed) return;
    spdlog::info("event=relay_state server={} state={} relayed={} error={}", kb::log_quote(server),
                 status_.state == RelayAllocation::State::allocated ? "allocated"
                 : status_.state == RelayAllocation::State::failed  ? "failed"
                                                                    : "allocating",
                 status_.relayed ? status_.relayed->to_string() : "-",
                 kb::log_quote(status_.error));
    if (on_change_) on_change_();
}

}  // namespace mesh::agent
