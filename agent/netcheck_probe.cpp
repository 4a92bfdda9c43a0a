#include "agent/netcheck_probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/natpmp.hpp"

namespace mesh::agent {

namespace {

constexpr std::uint16_t kNatPmpPort = 5351;

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

std::optional<kb::IpAddress> default_gateway_v4() {
    std::ifstream in("/proc/net/route");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string iface, destination, gateway;
        if (!(fields >> iface >> destination >> gateway)) continue;
        if (destination != "00000000") continue;
        std::uint32_t raw = static_cast<std::uint32_t>(std::stoul(gateway, nullptr, 16));
        if (raw == 0) continue;
        kb::IpAddress ip;
        std::memcpy(ip.bytes.data(), &raw, 4);  // the file holds it in network order
        return ip;
    }
    return std::nullopt;
}

PortMappingProbe probe_port_mapping(const std::optional<kb::IpAddress>& gateway,
                                    std::chrono::milliseconds timeout) {
    PortMappingProbe out;
    if (!gateway) {
        out.detail = "no IPv4 default gateway to ask";
        return out;
    }
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        out.detail = std::string("socket: ") + std::strerror(errno);
        return out;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(kNatPmpPort);
    std::memcpy(&to.sin_addr, gateway->bytes.data(), 4);
    auto request = natpmp_address_request();
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 ||
        ::send(fd.get(), request.data(), request.size(), 0) < 0) {
        out.detail = "cannot send to " + gateway->to_string() + ":5351: " + std::strerror(errno);
        return out;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int bound = 0; bound < 16; ++bound) {
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, remaining_ms(deadline)) <= 0) break;
        std::uint8_t buf[1100];
        auto n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0) {
            // ECONNREFUSED: the gateway said (ICMP) that nothing listens on 5351.
            out.detail = gateway->to_string() + ":5351: " + std::strerror(errno);
            return out;
        }
        auto answer = parse_natpmp_answer({buf, static_cast<std::size_t>(n)});
        if (!answer) continue;  // not an answer to us: wait on
        out.service = answer->version == 0 ? "nat-pmp" : "pcp";
        out.detail = "answered by " + gateway->to_string() + ":5351, result " +
                     std::to_string(answer->result);
        if (answer->external) out.detail += ", external address " + answer->external->to_string();
        return out;
    }
    out.detail = "no answer from " + gateway->to_string() + ":5351 within " +
                 std::to_string(timeout.count()) + " ms";
    return out;
}

Ipv6Check check_ipv6(const std::string& skip_interface) {
    Ipv6Check out;
    // /proc/net/if_inet6: address (32 hex), index, prefix length, scope, flags, name.
    std::ifstream addresses("/proc/net/if_inet6");
    std::string hex, index, length, scope, flags, name;
    while (addresses >> hex >> index >> length >> scope >> flags >> name) {
        if (name == skip_interface || scope != "00" || hex.size() != 32) continue;
        const auto first = std::stoul(hex.substr(0, 2), nullptr, 16);
        if ((first & 0xfe) == 0xfc) continue;  // unique local (fc00::/7): not global
        out.global_address = true;
    }
    // /proc/net/ipv6_route: destination, its length, ..., the device last.
    std::ifstream routes("/proc/net/ipv6_route");
    std::string line;
    while (std::getline(routes, line)) {
        std::istringstream fields(line);
        std::string destination, destination_length;
        if (!(fields >> destination >> destination_length)) continue;
        if (destination == std::string(32, '0') && destination_length == "00" &&
            line.find(" lo") == std::string::npos) {
            out.default_route = true;
        }
    }
    return out;
}

ConnectTime time_tcp_connect(const std::string& host_port, std::chrono::milliseconds timeout) {
    ConnectTime out;
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos) {
        out.error = "no port in " + host_port;
        return out;
    }
    std::string host = host_port.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), host_port.substr(colon + 1).c_str(), &hints, &found);
        rc != 0 || !found) {
        out.error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
        return out;
    }
    Fd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const auto start = std::chrono::steady_clock::now();
    int rc = fd.get() < 0 ? -1 : ::connect(fd.get(), found->ai_addr, found->ai_addrlen);
    ::freeaddrinfo(found);
    if (rc != 0 && errno != EINPROGRESS) {
        out.error = std::string("connect: ") + std::strerror(errno);
        return out;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    if (rc != 0 && ::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
        out.error = "no TCP answer within " + std::to_string(timeout.count()) + " ms";
        return out;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        out.error = std::string("connect: ") + std::strerror(err);
        return out;
    }
    out.reachable = true;
    out.took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    return out;
}

}  // namespace mesh::agent
