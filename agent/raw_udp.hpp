#pragma once
// STUN packets on a UDP port that another socket owns (the WireGuard device's): sent through a
// raw socket with our own UDP header, received through a raw socket whose BPF filter keeps only
// UDP datagrams to that port that carry the STUN magic cookie. So the packets leave from, and
// arrive at, the WireGuard port itself and share its NAT mapping; the device ignores them.
// IPv4. Needs CAP_NET_RAW.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::agent {

class RawUdpPort {
  public:
    explicit RawUdpPort(std::uint16_t port);  // throws mesh::Error
    ~RawUdpPort();
    RawUdpPort(const RawUdpPort&) = delete;
    RawUdpPort& operator=(const RawUdpPort&) = delete;

    struct Datagram {
        kb::Endpoint from;
        std::vector<std::uint8_t> payload;
    };

    // Sends `payload` from the port to `to`. False when the kernel refused it (no route, or an
    // IPv6 destination, which this port does not speak).
    bool send(const kb::Endpoint& to, std::span<const std::uint8_t> payload);
    // One waiting datagram, or nullopt when none is queued (never blocks).
    std::optional<Datagram> receive();
    int receive_fd() const { return recv_fd_; }
    std::uint16_t port() const { return port_; }

  private:
    std::uint16_t port_;
    int send_fd_ = -1;
    int recv_fd_ = -1;
};

// The source address the kernel would use towards `to` (IPv4); nullopt without a route.
std::optional<kb::IpAddress> route_source(const kb::Endpoint& to);

// The UDP checksum over the IPv4 pseudo-header and `udp` (header with a zero checksum field, and
// payload), in network byte order. Pure; exposed for tests.
std::uint16_t udp4_checksum(const std::array<std::uint8_t, 4>& source,
                            const std::array<std::uint8_t, 4>& destination,
                            std::span<const std::uint8_t> udp);

}  // namespace mesh::agent
