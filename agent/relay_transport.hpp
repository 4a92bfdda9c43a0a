#pragma once
// The proxy's connection to its TURN server: UDP (one datagram per message), or TCP and TLS on
// one nonblocking stream for sites whose firewall drops outgoing UDP (issue 13: coturn serves
// both, TLS typically on 443). The stream kinds frame with kb::turn::StreamReader and buffer
// what the kernel does not take at once; TLS is OpenSSL's, its certificate checked against a
// pinned fingerprint (from the coordinator) or else the system's CAs and the server's name.
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/relay_allocation.hpp"
#include "kmod-bridge/turn_stream.hpp"

namespace mesh::agent {

class RelayTransport {
  public:
    // Starts connecting (nonblocking); throws mesh::Error when no socket can be made.
    explicit RelayTransport(const RelayCredential& server);
    ~RelayTransport();
    RelayTransport(const RelayTransport&) = delete;
    RelayTransport& operator=(const RelayTransport&) = delete;

    int fd() const { return fd_; }
    short poll_events() const;  // POLLIN, and POLLOUT while connecting or with bytes queued
    bool stream() const { return kind_ != RelayTransportKind::udp; }
    // Connected (and, for TLS, the handshake done and the certificate accepted): messages
    // queued before are on their way.
    bool ready() const { return state_ == State::ready; }
    bool failed() const { return state_ == State::failed; }
    const std::string& error() const { return error_; }

    // After poll() said the socket is ready: moves the connection on, sends what is queued,
    // and returns the messages that arrived (datagrams, or whole frames of the stream).
    std::vector<std::vector<std::uint8_t>> service(short revents);
    // Queues messages for the server (a stream's ChannelData already padded); over UDP they
    // go out at once, in batches (what the kernel refuses is dropped, as UDP may).
    void send(const std::vector<std::vector<std::uint8_t>>& messages);

  private:
    enum class State { connecting, handshaking, ready, failed };
    void fail(std::string why);
    void progress();
    void flush();
    std::vector<std::vector<std::uint8_t>> read_stream();
    bool check_certificate();

    RelayTransportKind kind_;
    kb::Endpoint server_;
    std::string tls_name_, tls_fingerprint_;
    int fd_ = -1;
    State state_ = State::connecting;
    bool handshake_wants_write_ = true;  // what OpenSSL's last handshake step waits for
    std::string error_;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    std::vector<std::uint8_t> out_;  // stream bytes the kernel has not taken yet
    std::size_t out_sent_ = 0;
    kb::turn::StreamReader reader_;
};

}  // namespace mesh::agent
