#include "agent/peer_lookup.hpp"

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

std::optional<std::string> find_peer(const NetMap& map, const std::string& query) {
    if (query.empty()) return std::nullopt;
    if (map.peers.contains(query)) return query;
    std::optional<std::string> by_name;
    int named = 0;
    for (const auto& [id, peer] : map.peers) {
        if (peer.hostname == query) {
            by_name = id;
            ++named;
        }
    }
    if (named == 1) return by_name;
    if (named > 1) return std::nullopt;
    kb::IpAddress address;
    try {
        address = kb::IpAddress::parse(query);
    } catch (const Error&) {
        return std::nullopt;
    }
    for (const auto& [id, peer] : map.peers) {
        for (const auto& prefix : peer.allowed_ips) {
            if (prefix.contains(address)) return id;
        }
    }
    return std::nullopt;
}

}  // namespace mesh::agent
