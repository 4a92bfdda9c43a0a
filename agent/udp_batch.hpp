#pragma once
// The relay's socket helpers: connected UDP sockets with room for bursts, and batched receives
// and sends (recvmmsg/sendmmsg), shared by the proxy's loopback sockets and its UDP transport.
#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::agent {

inline constexpr std::size_t kBatch = 32;
inline constexpr std::size_t kDatagram = 4096;  // WireGuard's packets: at most the MTU + headers

socklen_t to_sockaddr(const kb::Endpoint& e, sockaddr_storage& out);
// A nonblocking socket of `type` (SOCK_DGRAM or SOCK_STREAM) with 4 MiB buffers, bound to
// 127.0.0.1 first when on_loopback, connected (or, for a stream, connecting) to `to`. Throws
// mesh::Error naming what failed.
int connected_socket(const kb::Endpoint& to, int type, bool on_loopback);
kb::Endpoint local_endpoint(int fd);
// Up to kBatch datagrams from a nonblocking socket.
std::vector<std::vector<std::uint8_t>> receive_batch(int fd);
// Sends on a connected socket in batches; what the kernel refuses is dropped (UDP).
void send_batch(int fd, const std::vector<const std::vector<std::uint8_t>*>& datagrams);

}  // namespace mesh::agent
