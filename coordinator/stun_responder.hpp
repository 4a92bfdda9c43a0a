#pragma once
// The coordinator's STUN responder (RFC 8489 Binding): tells an agent which address and port its
// request came from (XOR-MAPPED-ADDRESS), that is, its NAT's public mapping. It answers on two
// UDP ports, P and P + 1, so an agent can compare the mappings its NAT made towards two
// destinations (endpoint-independent or endpoint-dependent). Only well-formed Binding requests
// are answered, from the socket and the local address they arrived on; everything else is
// dropped. Like any UDP service it answers whatever source address a request claims, so it can
// be made to send to a third party; it never amplifies: a request smaller than its answer (our
// agents pad theirs with PADDING to kb::stun::kLargestBindingAnswer) gets none, so a spoofed
// request makes it send at most as many bytes as the spoofer sent.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/unix_socket.hpp"

namespace mesh::coord {

// The answer to one datagram that came from `from`: a binding_success with the request's
// transaction id and XOR-MAPPED-ADDRESS = from, or nullopt for anything that is not a
// well-formed Binding request. Pure.
std::optional<std::vector<std::uint8_t>> stun_answer(std::span<const std::uint8_t> packet,
                                                     const kb::Endpoint& from);

class StunResponder {
  public:
    // Binds UDP listen.port and listen.port + 1 on listen.address ("0.0.0.0" = every IPv4
    // address; "::" = every address, IPv4 included) and starts answering on one thread. Throws
    // mesh::Error naming the port when one cannot be bound (in use, not a local address) or when
    // listen.port is not in 1..65534.
    explicit StunResponder(const kb::Endpoint& listen);
    ~StunResponder();  // stops
    StunResponder(const StunResponder&) = delete;
    StunResponder& operator=(const StunResponder&) = delete;

    // Ends the thread; returns once it has. Idempotent.
    void stop();
    std::uint16_t port() const { return port_; }  // P; the second socket is on P + 1

  private:
    void run();
    void drain(int fd);

    std::uint16_t port_;
    std::array<kb::UniqueFd, 2> sockets_;
    kb::UniqueFd stop_;  // eventfd
    std::thread thread_;
};

}  // namespace mesh::coord
