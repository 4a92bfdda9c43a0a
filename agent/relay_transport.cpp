#include "agent/relay_transport.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "agent/udp_batch.hpp"
#include "kmod-bridge/error.hpp"
#include "proto/tls_pin.hpp"

namespace mesh::agent {

namespace {

std::string ssl_error_text() {
    const unsigned long code = ERR_get_error();
    if (code == 0) return "TLS failed";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return text;
}

bool is_ip_literal(const std::string& name) {
    try {
        kb::IpAddress::parse(name);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace

RelayTransport::RelayTransport(const RelayCredential& server)
    : kind_(server.transport),
      server_(server.server),
      tls_name_(server.tls_name.empty() ? server.server.address.to_string() : server.tls_name),
      tls_fingerprint_(server.tls_fingerprint) {
    fd_ = connected_socket(server_, stream() ? SOCK_STREAM : SOCK_DGRAM, false);
    if (!stream()) state_ = State::ready;
}

RelayTransport::~RelayTransport() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
}

short RelayTransport::poll_events() const {
    if (state_ == State::failed) return 0;
    if (state_ == State::connecting) return POLLOUT;
    // A TLS handshake waits on the direction OpenSSL asked for (asking for POLLOUT on a socket
    // that can always write would spin until the server's answer comes).
    if (state_ == State::handshaking) return handshake_wants_write_ ? POLLOUT : POLLIN;
    short events = POLLIN;
    if (out_sent_ < out_.size()) events |= POLLOUT;
    return events;
}

void RelayTransport::fail(std::string why) {
    if (state_ == State::failed) return;
    state_ = State::failed;
    error_ = "TURN " + server_.to_string() + " over " + relay_transport_name(kind_) + ": " + why;
}

// The certificate the TLS handshake accepted, checked once more for the pin (OpenSSL checked
// the CA chain and the name when no pin is given).
bool RelayTransport::check_certificate() {
    if (tls_fingerprint_.empty()) return true;
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) {
        fail("no certificate presented");
        return false;
    }
    unsigned char* der = nullptr;
    const int size = i2d_X509(cert, &der);
    X509_free(cert);
    if (size <= 0) {
        fail("unreadable certificate");
        return false;
    }
    const std::string presented =
        tls::fingerprint_of_der(std::string_view(reinterpret_cast<char*>(der), size));
    OPENSSL_free(der);
    if (presented != tls_fingerprint_) {
        fail("certificate " + presented + " is not the pinned " + tls_fingerprint_);
        return false;
    }
    return true;
}

void RelayTransport::progress() {
    if (state_ == State::connecting) {
        int error = 0;
        socklen_t len = sizeof error;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) return fail(std::string("cannot connect: ") + std::strerror(error));
        if (kind_ == RelayTransportKind::tcp) {
            state_ = State::ready;
            return;
        }
        ctx_ = SSL_CTX_new(TLS_client_method());
        if (!ctx_) return fail(ssl_error_text());
        SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
        if (tls_fingerprint_.empty()) {
            SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
            SSL_CTX_set_default_verify_paths(ctx_);
        } else {
            SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // the pin decides, below
        }
        ssl_ = SSL_new(ctx_);
        if (!ssl_) return fail(ssl_error_text());
        // flush() retries with the queue as it is by then (moved, and longer).
        SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_set_fd(ssl_, fd_);
        if (!is_ip_literal(tls_name_)) SSL_set_tlsext_host_name(ssl_, tls_name_.c_str());
        if (tls_fingerprint_.empty()) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
            if (is_ip_literal(tls_name_)) {
                X509_VERIFY_PARAM_set1_ip_asc(param, tls_name_.c_str());
            } else {
                X509_VERIFY_PARAM_set1_host(param, tls_name_.c_str(), 0);
            }
        }
        SSL_set_connect_state(ssl_);
        state_ = State::handshaking;
    }
    if (state_ == State::handshaking) {
        const int r = SSL_do_handshake(ssl_);
        if (r == 1) {
            if (check_certificate()) state_ = State::ready;
            return;
        }
        const int e = SSL_get_error(ssl_, r);
        handshake_wants_write_ = e == SSL_ERROR_WANT_WRITE;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        const long verify = SSL_get_verify_result(ssl_);
        if (verify != X509_V_OK) {
            return fail(std::string("certificate refused: ") +
                        X509_verify_cert_error_string(verify));
        }
        fail("TLS handshake failed: " + ssl_error_text());
    }
}

void RelayTransport::flush() {
    while (state_ == State::ready && out_sent_ < out_.size()) {
        const void* at = out_.data() + out_sent_;
        const std::size_t left = out_.size() - out_sent_;
        long n;
        if (ssl_) {
            n = SSL_write(ssl_, at, static_cast<int>(std::min<std::size_t>(left, 1 << 20)));
            if (n <= 0) {
                const int e = SSL_get_error(ssl_, static_cast<int>(n));
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return;
                return fail("write failed: " + ssl_error_text());
            }
        } else {
            n = ::send(fd_, at, left, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
                return fail(std::string("write failed: ") + std::strerror(errno));
            }
        }
        out_sent_ += static_cast<std::size_t>(n);
    }
    if (out_sent_ == out_.size()) {
        out_.clear();
        out_sent_ = 0;
    }
}

std::vector<std::vector<std::uint8_t>> RelayTransport::read_stream() {
    std::vector<std::vector<std::uint8_t>> frames;
    std::array<std::uint8_t, 16384> buffer;
    for (int rounds = 0; rounds < 64 && state_ == State::ready; ++rounds) {
        long n;
        if (ssl_) {
            n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
            if (n <= 0) {
                const int e = SSL_get_error(ssl_, static_cast<int>(n));
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
                fail(e == SSL_ERROR_ZERO_RETURN ? "the server closed the connection"
                                                : "read failed: " + ssl_error_text());
                break;
            }
        } else {
            n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
                fail(std::string("read failed: ") + std::strerror(errno));
                break;
            }
            if (n == 0) {
                fail("the server closed the connection");
                break;
            }
        }
        reader_.append({buffer.data(), static_cast<std::size_t>(n)});
        while (auto frame = reader_.next()) frames.push_back(std::move(*frame));
        if (reader_.out_of_step()) {
            fail("the stream is out of step (neither STUN nor ChannelData)");
            break;
        }
    }
    return frames;
}

std::vector<std::vector<std::uint8_t>> RelayTransport::service(short revents) {
    if (state_ == State::failed) return {};
    if (state_ != State::ready) {
        if (revents & (POLLERR | POLLHUP) && state_ == State::connecting) {
            progress();  // reads SO_ERROR
            return {};
        }
        progress();
        if (state_ != State::ready) return {};
    }
    if (!stream()) return (revents & POLLIN) ? receive_batch(fd_) : decltype(receive_batch(fd_)){};
    flush();
    auto frames = read_stream();
    flush();
    return frames;
}

void RelayTransport::send(const std::vector<std::vector<std::uint8_t>>& messages) {
    if (messages.empty() || state_ == State::failed) return;
    if (!stream()) {
        std::vector<const std::vector<std::uint8_t>*> batch;
        for (const auto& m : messages) batch.push_back(&m);
        send_batch(fd_, batch);
        return;
    }
    // A stream that cannot keep up (the server or the path is slower than the tunnel) drops
    // what is over 8 MiB queued, as a UDP path would: WireGuard's traffic copes with loss, not
    // with unbounded delay.
    constexpr std::size_t kMaxQueued = 8 << 20;
    for (const auto& m : messages) {
        if (out_.size() - out_sent_ + m.size() > kMaxQueued) break;
        out_.insert(out_.end(), m.begin(), m.end());
    }
    flush();
}

}  // namespace mesh::agent
