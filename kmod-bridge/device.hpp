#pragma once
// The WireGuard device model: what we want (DeviceConfig), what the device has (DeviceState),
// and the change that turns one into the other (DeviceUpdate). The update mirrors the kernel's
// own partial-update semantics: a field is changed only when present, allowed IPs are replaced
// only when replace_allowed_ips says so, and update_only refuses to create a peer.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"
#include "kmod-bridge/key.hpp"

namespace mesh::kb {

struct PeerConfig {
    Key public_key;
    std::optional<Endpoint> endpoint;        // absent: leave whatever the device has learned
    std::vector<IpPrefix> allowed_ips;       // compared as a set
    std::uint16_t persistent_keepalive = 0;  // seconds, 0 = off

    bool operator==(const PeerConfig&) const = default;
};

struct DeviceConfig {
    std::optional<Key> private_key;
    std::optional<std::uint16_t> listen_port;
    std::vector<PeerConfig> peers;

    bool operator==(const DeviceConfig&) const = default;
};

struct PeerState {
    PeerConfig config;
    std::int64_t last_handshake_sec = 0;  // unix time, 0 = never
    std::int64_t last_handshake_nsec = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_bytes = 0;

    bool operator==(const PeerState&) const = default;
};

struct DeviceState {
    std::optional<Key> private_key;  // absent when the device has none
    std::uint16_t listen_port = 0;
    std::uint32_t fwmark = 0;
    std::vector<PeerState> peers;

    bool operator==(const DeviceState&) const = default;
};

struct PeerUpdate {
    Key public_key;
    bool remove = false;
    bool update_only = false;  // change an existing peer, never create one
    std::optional<Endpoint> endpoint;
    std::optional<std::uint16_t> persistent_keepalive;
    bool replace_allowed_ips = false;
    std::vector<IpPrefix> allowed_ips;  // added (after clearing, if replace_allowed_ips)

    bool operator==(const PeerUpdate&) const = default;
};

struct DeviceUpdate {
    std::optional<Key> private_key;
    std::optional<std::uint16_t> listen_port;
    bool replace_peers = false;
    std::vector<PeerUpdate> peers;

    bool empty() const { return !private_key && !listen_port && !replace_peers && peers.empty(); }
    bool operator==(const DeviceUpdate&) const = default;
};

}  // namespace mesh::kb
