#pragma once
// The data path for relayed peers (issue 13). One connection to the TURN server (UDP, or TCP or
// TLS where UDP is blocked: RelayTransport) carries the allocation's control messages
// (RelayAllocation) and every relayed peer's packets; one loopback
// socket per relayed peer is that peer's endpoint on the WireGuard device. A packet the device
// sends to a peer's loopback socket goes to the server as ChannelData (a Send indication until
// the channel is bound) for the peer's relayed address; what the server relays from that address
// comes back out of the same loopback socket to the device. Only relayed peers' packets pass
// through user space, on this object's own thread (poll, recvmmsg/sendmmsg in batches); the
// agent's control loop never waits on it.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/relay_allocation.hpp"
#include "agent/relay_transport.hpp"

namespace mesh::agent {

class RelayProxy {
  public:
    struct Status {
        RelayAllocation::State state = RelayAllocation::State::allocating;
        std::optional<kb::Endpoint> relayed;
        std::string server;  // the server in use, "ADDRESS:PORT" (+ " over tcp"/" over tls")
        std::string error;
        // The peers' relayed addresses with a bound channel (and so a permission): packets to
        // them get through from the first one.
        std::set<kb::Endpoint> ready;
        std::uint64_t packets_to_relay = 0, packets_from_relay = 0, dropped = 0;
    };

    // servers: in the order to try them (UDP first, then TCP, then TLS); one that fails moves
    // the proxy on to the next at once, and after the last it starts over with backoff.
    // on_change: the allocation's state, server or relayed address changed (called on the
    // proxy's thread, with no lock of its own held). Throws mesh::Error for an empty list or
    // when the wake-up descriptor cannot be made.
    RelayProxy(std::vector<RelayCredential> servers, std::uint16_t wireguard_port,
               std::function<void()> on_change);
    ~RelayProxy();
    RelayProxy(const RelayProxy&) = delete;
    RelayProxy& operator=(const RelayProxy&) = delete;

    void start();
    void stop();  // idempotent; joins the thread

    // The relayed peers, node id -> the peer's relayed address. Returns node id -> the loopback
    // endpoint the device should use for it (stable while the peer stays relayed).
    std::map<std::string, kb::Endpoint> set_peers(const std::map<std::string, kb::Endpoint>& peers);
    // Renewed credentials (the same servers, or others): the current allocation keeps its own
    // until the server refuses them; a new allocation uses these.
    void set_servers(std::vector<RelayCredential> servers);
    // This host's addresses or NAT mapping changed: the server knows the allocation by the old
    // 5-tuple, which no longer exists, so a new one is made now (rather than after requests
    // time out).
    void reallocate();
    Status status() const;

  private:
    struct Peer {
        kb::Endpoint relay;  // the peer's relayed address
        int fd = -1;         // the loopback socket the device sends to
        kb::Endpoint local;
    };
    void run();
    void start_allocation(RelayAllocation::TimePoint now);
    void next_server(RelayAllocation::TimePoint now, std::chrono::seconds& retry_after);
    void drain_server(short revents);
    void drain_local(const Peer& peer);
    void publish_status();
    RelayAllocation::State state() const;  // the allocation's, failed with its connection
    void flush_to_server();
    void wake();

    const std::uint16_t wireguard_port_;
    std::function<void()> on_change_;
    int wake_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> to_relay_{0}, from_relay_{0}, dropped_{0};
    std::thread thread_;

    mutable std::mutex mutex_;  // guards the fields below, shared with the agent's threads
    std::map<std::string, Peer> peers_;
    std::vector<RelayCredential> servers_;  // the newest: for the next allocations
    bool servers_changed_ = false;          // not yet handed to the allocation
    bool reallocate_ = false;
    std::vector<int> retired_;  // sockets of peers no longer relayed, to close
    bool peers_changed_ = true;
    Status status_;

    // The proxy thread's own.
    std::vector<RelayCredential> thread_servers_;
    std::size_t server_index_ = 0;
    std::unique_ptr<RelayTransport> transport_;
    std::string transport_error_;  // why there is no transport_
    std::unique_ptr<RelayAllocation> allocation_;
    std::map<std::string, Peer> thread_peers_;
    std::vector<std::vector<std::uint8_t>> to_server_;  // control messages and framed packets
};

}  // namespace mesh::agent
