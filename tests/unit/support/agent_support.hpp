#pragma once
// A peer as the coordinator would describe it, for the agent's unit tests.
#include <string>

#include "agent/netmap.hpp"

namespace mesh::test {

// Node `id` with a key of bytes `key`, overlay addresses 100.64.0.HOST and fd00::HOST, and one
// endpoint 10.0.0.HOST:51820.
inline agent::PeerInfo peer_info(const std::string& id, std::uint8_t key, int host) {
    agent::PeerInfo p;
    p.node_id = id;
    p.hostname = id;
    p.public_key.bytes.fill(key);
    p.allowed_ips = {kb::IpPrefix::parse("100.64.0." + std::to_string(host) + "/32"),
                     kb::IpPrefix::parse("fd00::" + std::to_string(host) + "/128")};
    p.endpoints = {kb::Endpoint::parse("10.0.0." + std::to_string(host) + ":51820")};
    return p;
}

}  // namespace mesh::test
