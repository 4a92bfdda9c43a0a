#include "agent/udp_batch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

using kb::Endpoint;

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

int connected_socket(const Endpoint& to, int type, bool on_loopback) {
    sockaddr_storage addr{};
    socklen_t len = to_sockaddr(to, addr);
    int fd = ::socket(addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(std::string("relay: cannot open a socket: ") + std::strerror(errno));
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
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
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

}  // namespace mesh::agent
