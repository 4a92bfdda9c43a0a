#include "agent/raw_udp.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/stun.hpp"

namespace mesh::agent {

namespace {

std::string errno_text() {
    return std::strerror(errno);
}

void attach(int fd, std::span<sock_filter> code) {
    sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
        throw Error("cannot attach a socket filter: " + errno_text());
    }
}

// Keeps IPv4 UDP datagrams to `port` whose payload starts like STUN (magic cookie at offset 4).
// AF_INET raw sockets read the IP header too: skip non-first fragments, then index the UDP
// header by the IP header length, so IP options are handled.
void attach_stun_filter(int fd, std::uint16_t port) {
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),               // flags + fragment offset
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 6, 0),  // a later fragment: drop
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),              // X = IP header length
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),               // UDP destination port
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 3),     //
        BPF_STMT(BPF_LD | BPF_W | BPF_IND, 12),              // UDP payload bytes 4..7
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kb::stun::kMagicCookie, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    attach(fd, code);
}

// The sending socket would otherwise queue a copy of every UDP datagram the host receives.
void attach_drop_all(int fd) {
    sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    attach(fd, code);
}

int raw_udp_socket() {
    int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
    if (fd < 0) {
        throw Error("cannot open a raw UDP socket (needs CAP_NET_RAW): " + errno_text());
    }
    return fd;
}

sockaddr_in to_sockaddr(const kb::Endpoint& e) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(e.port);
    std::memcpy(&sin.sin_addr, e.address.bytes.data(), 4);
    return sin;
}

// The source address the kernel picks towards `to` (a connected UDP socket's local address).
std::optional<std::array<std::uint8_t, 4>> source_towards(const sockaddr_in& to) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    sockaddr_in local{};
    socklen_t len = sizeof local;
    bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0;
    ::close(fd);
    if (!ok) return std::nullopt;
    std::array<std::uint8_t, 4> out;
    std::memcpy(out.data(), &local.sin_addr, 4);
    return out;
}

}  // namespace

std::optional<kb::IpAddress> route_source(const kb::Endpoint& to) {
    if (!to.address.is_v4()) return std::nullopt;
    auto source = source_towards(to_sockaddr(to));
    if (!source) return std::nullopt;
    kb::IpAddress a;
    std::memcpy(a.bytes.data(), source->data(), 4);
    return a;
}

std::uint16_t udp4_checksum(const std::array<std::uint8_t, 4>& source,
                            const std::array<std::uint8_t, 4>& destination,
                            std::span<const std::uint8_t> udp) {
    std::uint32_t sum = 0;
    auto add16 = [&](std::uint8_t hi, std::uint8_t lo) { sum += (hi << 8) | lo; };
    add16(source[0], source[1]);
    add16(source[2], source[3]);
    add16(destination[0], destination[1]);
    add16(destination[2], destination[3]);
    sum += IPPROTO_UDP;
    sum += static_cast<std::uint32_t>(udp.size());
    for (std::size_t i = 0; i + 1 < udp.size(); i += 2) add16(udp[i], udp[i + 1]);
    if (udp.size() % 2) add16(udp.back(), 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    auto result = static_cast<std::uint16_t>(~sum & 0xffff);
    return result == 0 ? 0xffff : result;  // 0 would mean "no checksum"
}

RawUdpPort::RawUdpPort(std::uint16_t port) : port_(port) {
    send_fd_ = raw_udp_socket();
    try {
        attach_drop_all(send_fd_);
        recv_fd_ = raw_udp_socket();
        attach_stun_filter(recv_fd_, port);
    } catch (...) {
        ::close(send_fd_);
        if (recv_fd_ >= 0) ::close(recv_fd_);
        throw;
    }
    // What arrived between socket() and the filter was not filtered: drop it.
    std::uint8_t scratch[2048];
    while (::recv(recv_fd_, scratch, sizeof scratch, MSG_DONTWAIT) >= 0) {
    }
}

RawUdpPort::~RawUdpPort() {
    ::close(send_fd_);
    ::close(recv_fd_);
}

bool RawUdpPort::send(const kb::Endpoint& to, std::span<const std::uint8_t> payload) {
    if (!to.address.is_v4() || payload.size() > 1400) return false;
    auto destination = to_sockaddr(to);
    auto source = source_towards(destination);
    if (!source) return false;
    std::vector<std::uint8_t> udp(8 + payload.size());
    auto length = static_cast<std::uint16_t>(udp.size());
    udp[0] = port_ >> 8;
    udp[1] = port_ & 0xff;
    udp[2] = to.port >> 8;
    udp[3] = to.port & 0xff;
    udp[4] = length >> 8;
    udp[5] = length & 0xff;
    std::copy(payload.begin(), payload.end(), udp.begin() + 8);
    std::array<std::uint8_t, 4> dst;
    std::memcpy(dst.data(), to.address.bytes.data(), 4);
    auto sum = udp4_checksum(*source, dst, udp);
    udp[6] = sum >> 8;
    udp[7] = sum & 0xff;
    // sin_port is ignored by raw sockets; the kernel adds the IP header.
    return ::sendto(send_fd_, udp.data(), udp.size(), 0,
                    reinterpret_cast<const sockaddr*>(&destination),
                    sizeof destination) == static_cast<ssize_t>(udp.size());
}

std::optional<RawUdpPort::Datagram> RawUdpPort::receive() {
    std::uint8_t buf[2048];
    while (true) {
        ssize_t n = ::recv(recv_fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) return std::nullopt;
        auto size = static_cast<std::size_t>(n);
        if (size < 20 || (buf[0] >> 4) != 4) continue;
        std::size_t ihl = (buf[0] & 0x0f) * 4u;
        if (ihl < 20 || size < ihl + 8) continue;
        const std::uint8_t* udp = buf + ihl;
        std::size_t udp_length = (udp[4] << 8) | udp[5];
        if (udp_length < 8 || ihl + udp_length > size) continue;
        Datagram d;
        d.from.address.family = kb::IpAddress::Family::v4;
        std::memcpy(d.from.address.bytes.data(), buf + 12, 4);
        d.from.port = static_cast<std::uint16_t>((udp[0] << 8) | udp[1]);
        d.payload.assign(udp + 8, udp + udp_length);
        return d;
    }
}

}  // namespace mesh::agent
