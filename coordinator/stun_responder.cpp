#include "coordinator/stun_responder.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/stun.hpp"

namespace mesh::coord {

namespace {

using kb::Endpoint;
using kb::IpAddress;

// Datagrams handled per socket per wakeup, so one flooded port cannot starve the other or stop.
constexpr int kBatch = 64;

// One received datagram's addresses: where it came from, and the local address it arrived at
// (IP_PKTINFO / IPV6_PKTINFO), so the answer leaves from the address the agent sent to even on
// a wildcard socket of a host with several addresses.
struct Arrival {
    sockaddr_storage from{};
    socklen_t from_size = 0;
    std::optional<in_pktinfo> local_v4;
    std::optional<in6_pktinfo> local_v6;
};

bool is_wildcard(const IpAddress& a) {
    return std::all_of(a.bytes.begin(), a.bytes.end(), [](std::uint8_t b) { return b == 0; });
}

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& out) {
    out = {};
    if (e.address.is_v4()) {
        auto& sin = reinterpret_cast<sockaddr_in&>(out);
        sin.sin_family = AF_INET;
        sin.sin_port = htons(e.port);
        std::memcpy(&sin.sin_addr, e.address.bytes.data(), 4);
        return sizeof sin;
    }
    auto& sin6 = reinterpret_cast<sockaddr_in6&>(out);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(e.port);
    std::memcpy(&sin6.sin6_addr, e.address.bytes.data(), 16);
    return sizeof sin6;
}

// The sender as the agent's NAT shows it; an IPv4 sender on a dual-stack socket (::ffff:a.b.c.d)
// is reported as the IPv4 address it is.
std::optional<Endpoint> from_sockaddr(const sockaddr_storage& in) {
    Endpoint e;
    if (in.ss_family == AF_INET) {
        const auto& sin = reinterpret_cast<const sockaddr_in&>(in);
        std::memcpy(e.address.bytes.data(), &sin.sin_addr, 4);
        e.port = ntohs(sin.sin_port);
    } else if (in.ss_family == AF_INET6) {
        const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(in);
        e.port = ntohs(sin6.sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
            std::memcpy(e.address.bytes.data(), sin6.sin6_addr.s6_addr + 12, 4);
        } else {
            e.address.family = IpAddress::Family::v6;
            std::memcpy(e.address.bytes.data(), &sin6.sin6_addr, 16);
        }
    } else {
        return std::nullopt;
    }
    if (e.port == 0) return std::nullopt;  // cannot be answered
    return e;
}

void enable(int fd, int level, int option, int value, const Endpoint& at) {
    if (::setsockopt(fd, level, option, &value, sizeof value) != 0) {
        throw Error("cannot configure the STUN socket on " + at.to_string() + ": " +
                    std::strerror(errno));
    }
}

kb::UniqueFd bind_udp(const Endpoint& at) {
    const bool v4 = at.address.is_v4();
    kb::UniqueFd fd(
        ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw Error(std::string("cannot create a UDP socket: ") + std::strerror(errno));
    if (v4) {
        enable(fd.get(), IPPROTO_IP, IP_PKTINFO, 1, at);
    } else {
        // "::" also takes IPv4, whatever net.ipv6.bindv6only says.
        enable(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, is_wildcard(at.address) ? 0 : 1, at);
        enable(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, at);
        if (is_wildcard(at.address)) enable(fd.get(), IPPROTO_IP, IP_PKTINFO, 1, at);
    }
    sockaddr_storage address;
    socklen_t size = to_sockaddr(at, address);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), size) != 0) {
        throw Error("cannot bind the STUN responder to UDP " + at.to_string() + ": " +
                    std::strerror(errno));
    }
    return fd;
}

void read_local_address(msghdr& message, Arrival& arrival) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            arrival.local_v4 = info;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            arrival.local_v6 = info;
        }
    }
}

using Control = std::array<char, CMSG_SPACE(sizeof(in_pktinfo)) + CMSG_SPACE(sizeof(in6_pktinfo))>;

// One waiting datagram into `buffer`: its size (0 when it was larger than the buffer, as no
// STUN message we accept is), or nullopt when none is queued or the socket reported an error.
std::optional<std::size_t> receive(int fd, std::span<std::uint8_t> buffer, Arrival& arrival) {
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) Control control{};
    msghdr message{};
    message.msg_name = &arrival.from;
    message.msg_namelen = sizeof arrival.from;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    ssize_t n = ::recvmsg(fd, &message, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    arrival.from_size = message.msg_namelen;
    if (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return 0;
    read_local_address(message, arrival);
    return static_cast<std::size_t>(n);
}

// Sends `answer` back to the sender, from the local address the request arrived at.
bool send_answer(int fd, const Arrival& arrival, std::span<const std::uint8_t> answer) {
    iovec iov{const_cast<std::uint8_t*>(answer.data()), answer.size()};
    alignas(cmsghdr) Control control{};
    msghdr message{};
    message.msg_name = const_cast<sockaddr_storage*>(&arrival.from);
    message.msg_namelen = arrival.from_size;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    if (arrival.local_v4 || arrival.local_v6) {
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&message);
        if (arrival.local_v4) {
            in_pktinfo info{};
            info.ipi_spec_dst = arrival.local_v4->ipi_spec_dst;
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof info);
            std::memcpy(CMSG_DATA(c), &info, sizeof info);
            message.msg_controllen = CMSG_SPACE(sizeof info);
        } else {
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof *arrival.local_v6);
            std::memcpy(CMSG_DATA(c), &*arrival.local_v6, sizeof *arrival.local_v6);
            message.msg_controllen = CMSG_SPACE(sizeof *arrival.local_v6);
        }
    }
    return ::sendmsg(fd, &message, MSG_DONTWAIT) == static_cast<ssize_t>(answer.size());
}

}  // namespace

std::optional<std::vector<std::uint8_t>> stun_answer(std::span<const std::uint8_t> packet,
                                                     const Endpoint& from) {
    if (!kb::stun::looks_like_stun(packet)) return std::nullopt;
    auto request = kb::stun::decode(packet);
    if (!request || request->type != kb::stun::Type::binding_request) return std::nullopt;
    kb::stun::Message response;
    response.type = kb::stun::Type::binding_success;
    response.transaction = request->transaction;
    response.mapped = from;
    auto answer = kb::stun::encode(response);
    // Never more bytes back than came in: a spoofed source gains nothing by sending here (our
    // agents pad their requests to kLargestBindingAnswer; security review, finding 9).
    if (answer.size() > packet.size()) return std::nullopt;
    return answer;
}

StunResponder::StunResponder(const Endpoint& listen) : port_(listen.port) {
    if (listen.port == 0 || listen.port == 65535) {
        throw Error("the STUN port must be 1..65534 (the responder also uses port + 1), got " +
                    std::to_string(listen.port));
    }
    Endpoint second = listen;
    second.port = static_cast<std::uint16_t>(listen.port + 1);
    sockets_[0] = bind_udp(listen);
    sockets_[1] = bind_udp(second);
    stop_ = kb::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_) throw Error(std::string("cannot create an eventfd: ") + std::strerror(errno));
    thread_ = std::thread([this] { run(); });
    spdlog::info("event=stun_started listen={} ports={},{}", listen.address.to_string(),
                 listen.port, second.port);
}

StunResponder::~StunResponder() {
    stop();
}

void StunResponder::stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    ssize_t written = ::write(stop_.get(), &one, sizeof one);
    (void)written;  // an eventfd write only fails when the counter would overflow
    thread_.join();
    spdlog::info("event=stun_stopped ports={},{}", port_, port_ + 1);
}

void StunResponder::run() {
    std::array<pollfd, 3> fds{
        {{sockets_[0].get(), POLLIN, 0}, {sockets_[1].get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}}};
    for (;;) {
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            spdlog::error("event=stun_failed error=\"poll: {}\"", std::strerror(errno));
            return;
        }
        if (fds[2].revents != 0) return;
        for (std::size_t i = 0; i < 2; ++i) {
            if (fds[i].revents != 0) drain(fds[i].fd);
        }
    }
}

void StunResponder::drain(int fd) {
    std::array<std::uint8_t, kb::stun::kMaxMessageSize> buffer;
    for (int i = 0; i < kBatch; ++i) {
        Arrival arrival;
        auto size = receive(fd, buffer, arrival);
        if (!size) return;
        auto from = from_sockaddr(arrival.from);
        if (!from) continue;
        auto answer = stun_answer(std::span(buffer.data(), *size), *from);
        if (!answer) continue;
        bool sent = send_answer(fd, arrival, *answer);
        if (spdlog::should_log(spdlog::level::debug)) {
            spdlog::debug("event=stun_answer from={} sent={}", from->to_string(), sent);
        }
    }
}

}  // namespace mesh::coord
