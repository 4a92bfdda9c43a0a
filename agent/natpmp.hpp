#pragma once
// NAT-PMP (RFC 6886) external-address request and its answer: how meshctl netcheck asks the
// default gateway whether a port mapping service runs there (UDP 5351). PCP (RFC 6887) servers
// answer a version-0 request with UNSUPP_VERSION, which also says a service is there. Pure.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::agent {

std::vector<std::uint8_t> natpmp_address_request();  // version 0, opcode 0

struct NatPmpAnswer {
    std::uint8_t version = 0;               // 0 NAT-PMP; 2 a PCP server refusing version 0
    std::uint16_t result = 0;               // 0 success
    std::optional<kb::IpAddress> external;  // on success
};

// The gateway's answer to natpmp_address_request(); nullopt for anything that is not one
// (wrong length, opcode, version). Bytes from the network: bounded, never throws.
std::optional<NatPmpAnswer> parse_natpmp_answer(std::span<const std::uint8_t> bytes);

}  // namespace mesh::agent
