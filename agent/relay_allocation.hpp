#pragma once
// One TURN allocation's control state (pure; RFC 8656 over UDP): Allocate with the long-term
// credential (the 401 challenge first, a fresh nonce on 438), Refresh before the lifetime ends,
// CreatePermission and ChannelBind for the peers it relays to, retransmissions with backoff.
// The caller moves the bytes: poll() says what to send, receive() takes the server's answers.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/turn_codec.hpp"

namespace mesh::agent {

// How the agent talks to the TURN server; the relayed side is UDP in every case.
enum class RelayTransportKind { udp, tcp, tls };
const char* relay_transport_name(RelayTransportKind kind);  // "udp", "tcp", "tls"

struct RelayCredential {
    kb::Endpoint server;
    std::string username;
    std::string password;
    RelayTransportKind transport = RelayTransportKind::udp;
    std::string tls_name;         // TLS: the URL's host, checked against the certificate
    std::string tls_fingerprint;  // TLS: "sha256:<hex>" to pin instead; empty = the system CAs
};

// "ADDR:PORT" for UDP, "ADDR:PORT over tcp|tls" for a stream: as status and logs name a server.
std::string relay_server_text(const RelayCredential& server);

// The order to try relays in: UDP, then TCP, then TLS (stable within each); with
// `udp_silent` (no STUN server ever answered this host: its network most likely drops UDP)
// TCP, TLS and UDP last, so that the first allocation does not wait out UDP's retries.
std::vector<RelayCredential> relay_try_order(std::vector<RelayCredential> servers, bool udp_silent);

class RelayAllocation {
  public:
    using Clock = std::chrono::steady_clock;
    using TimePoint = Clock::time_point;
    enum class State { allocating, allocated, failed };

    static constexpr std::uint32_t kLifetime = 600;                        // asked for, seconds
    static constexpr auto kPermissionRefresh = std::chrono::seconds(240);  // they last 300 s
    static constexpr auto kChannelRefresh = std::chrono::seconds(480);     // they last 600 s
    static constexpr int kAttempts = 5;  // 250 ms doubling: gives up after ~7.75 s

    // attempts: Allocate sends before giving up, the first after first_timeout, each next
    // one twice as long. Over TCP or TLS: one send (the stream retransmits), a long timeout.
    RelayAllocation(RelayCredential credential, TimePoint now, int attempts = kAttempts,
                    std::chrono::milliseconds first_timeout = std::chrono::milliseconds(250));

    // The requests due at `now` (new ones and retransmissions), as datagrams for the server.
    std::vector<std::vector<std::uint8_t>> poll(TimePoint now);
    // A STUN message from the server; false when it was not for this allocation (unknown
    // transaction, bad integrity), so the caller may look at it otherwise.
    bool receive(std::span<const std::uint8_t> packet, TimePoint now);
    // The peers' addresses (as the server sees them) to keep a permission and a channel for.
    void set_peers(const std::vector<kb::Endpoint>& peers, TimePoint now);
    // New credentials (renewed by the coordinator). An allocation keeps the username it was
    // made with (the server answers 441 to another); the new ones are used for the next
    // allocation: at once while none is made, else when the server refuses the old ones.
    void set_credential(RelayCredential credential);
    // A Refresh with lifetime 0 (RFC 8656 §7): the server frees the allocation and its port now
    // rather than when the lifetime runs out. Sent once, unanswered; nothing while not allocated.
    std::optional<std::vector<std::uint8_t>> release();

    State state() const { return state_; }
    const std::optional<kb::Endpoint>& relayed() const { return relayed_; }
    const std::optional<kb::Endpoint>& mapped() const { return mapped_; }
    const std::string& error() const { return error_; }
    const kb::Endpoint& server() const { return credential_.server; }
    // A bound channel's number for `peer`, or nullopt (then use Send indications).
    std::optional<std::uint16_t> channel_for(const kb::Endpoint& peer) const;
    std::optional<kb::Endpoint> peer_for(std::uint16_t channel) const;
    // When poll() next has something to do.
    TimePoint next_wakeup() const;

  private:
    enum class Kind { allocate, refresh, permission, channel };
    struct Pending {
        Kind kind;
        kb::turn::Message request;  // without the credential (added on each send)
        TimePoint next_send;
        std::chrono::milliseconds rto{250};
        int attempts = 0;
        std::optional<kb::Endpoint> peer;  // channel binds
        std::uint16_t channel = 0;
    };
    struct Channel {
        std::uint16_t number = 0;
        bool bound = false;
        TimePoint due{};  // bound: when to refresh; not bound: when to (re)try the bind
    };

    void start_allocate(TimePoint now);
    void start_request(Kind kind, kb::turn::Message request, TimePoint now,
                       std::optional<kb::Endpoint> peer = std::nullopt, std::uint16_t channel = 0);
    std::vector<std::uint8_t> encode_request(kb::turn::Message request) const;
    void on_success(const Pending& p, const kb::turn::Message& answer, TimePoint now);
    void on_error(Pending p, const kb::turn::Message& answer, TimePoint now);
    void fail(std::string why);
    void channel_failed(const Pending& p, TimePoint now);
    void schedule(TimePoint now);

    int attempts_;
    std::chrono::milliseconds first_timeout_;
    RelayCredential credential_;       // the allocation's
    RelayCredential next_credential_;  // the newest
    State state_ = State::allocating;
    std::optional<std::string> realm_, nonce_;
    std::optional<kb::Endpoint> relayed_, mapped_;
    std::string error_;
    TimePoint refresh_at_{}, permissions_at_{};
    std::map<kb::turn::TransactionId, Pending> pending_;
    std::vector<kb::Endpoint> peers_;
    std::map<kb::Endpoint, Channel> channels_;
    std::uint16_t next_channel_ = kb::turn::kFirstChannel;
};

}  // namespace mesh::agent
