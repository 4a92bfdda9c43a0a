#include "kmod-bridge/reconcile.hpp"

#include <algorithm>
#include <map>

namespace mesh::kb {

namespace {

std::vector<IpPrefix> as_set(std::vector<IpPrefix> prefixes) {
    for (auto& p : prefixes) p = p.masked();
    std::sort(prefixes.begin(), prefixes.end());
    prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
    return prefixes;
}

PeerUpdate add_peer(const PeerConfig& want) {
    PeerUpdate u;
    u.public_key = want.public_key;
    u.endpoint = want.endpoint;
    if (want.persistent_keepalive != 0) u.persistent_keepalive = want.persistent_keepalive;
    u.replace_allowed_ips = true;
    u.allowed_ips = as_set(want.allowed_ips);
    return u;
}

// The fields of an existing peer that differ; nullopt when nothing does.
std::optional<PeerUpdate> change_peer(const PeerConfig& want, const PeerConfig& have) {
    PeerUpdate u;
    u.public_key = want.public_key;
    u.update_only = true;
    bool changed = false;
    if (want.endpoint && want.endpoint != have.endpoint) {
        u.endpoint = want.endpoint;
        changed = true;
    }
    if (want.persistent_keepalive != have.persistent_keepalive) {
        u.persistent_keepalive = want.persistent_keepalive;
        changed = true;
    }
    auto want_ips = as_set(want.allowed_ips);
    if (want_ips != as_set(have.allowed_ips)) {
        u.replace_allowed_ips = true;
        u.allowed_ips = std::move(want_ips);
        changed = true;
    }
    if (!changed) return std::nullopt;
    return u;
}

}  // namespace

namespace {

void device_fields(const DeviceConfig& desired, const DeviceState& current, DeviceUpdate& update) {
    if (desired.private_key && desired.private_key != current.private_key) {
        update.private_key = desired.private_key;
    }
    if (desired.listen_port && *desired.listen_port != current.listen_port) {
        update.listen_port = desired.listen_port;
    }
}

// The update for one key: add, change, remove, or nothing.
void reconcile_one(const Key& key, const PeerConfig* want, const PeerConfig* have,
                   DeviceUpdate& update) {
    if (want && !have) {
        update.peers.push_back(add_peer(*want));
    } else if (want && have) {
        if (auto change = change_peer(*want, *have)) update.peers.push_back(std::move(*change));
    } else if (have) {
        PeerUpdate u;
        u.public_key = key;
        u.remove = true;
        update.peers.push_back(u);
    }
}

// Updates that set a keepalive go last. wireguard-go (0.0.20220316) remembers "keepalive was
// just turned on" across the peers of one set request, so a peer listed after such an update
// gets a keepalive too -- and with it a handshake initiation that the peer may not be ready
// to answer, which then blocks the real one for WireGuard's 5 s rate limit.
void keepalives_last(DeviceUpdate& update) {
    std::stable_partition(update.peers.begin(), update.peers.end(),
                          [](const PeerUpdate& u) { return !u.persistent_keepalive; });
}

}  // namespace

DeviceUpdate reconcile(const DeviceConfig& desired, const DeviceState& current) {
    DeviceUpdate update;
    device_fields(desired, current, update);
    std::map<Key, const PeerConfig*> have;
    for (const auto& p : current.peers) have.emplace(p.config.public_key, &p.config);
    std::map<Key, const PeerConfig*> want;
    for (const auto& p : desired.peers) want.emplace(p.public_key, &p);

    for (const auto& [key, peer] : want) {
        auto it = have.find(key);
        reconcile_one(key, peer, it == have.end() ? nullptr : it->second, update);
    }
    for (const auto& [key, peer] : have) {
        if (!want.contains(key)) reconcile_one(key, nullptr, peer, update);
    }
    keepalives_last(update);
    return update;
}

DeviceUpdate reconcile_peers(const DeviceConfig& desired, const DeviceState& current,
                             const std::vector<Key>& touched) {
    DeviceUpdate update;
    device_fields(desired, current, update);
    std::map<Key, const PeerConfig*> want, have;
    for (const auto& key : touched) {
        want.emplace(key, nullptr);
        have.emplace(key, nullptr);
    }
    // One pass over each side, picking out only the touched keys: O(N log k), no copies.
    for (const auto& p : desired.peers) {
        if (auto it = want.find(p.public_key); it != want.end()) it->second = &p;
    }
    for (const auto& p : current.peers) {
        if (auto it = have.find(p.config.public_key); it != have.end()) it->second = &p.config;
    }
    for (const auto& [key, peer] : want) reconcile_one(key, peer, have[key], update);
    keepalives_last(update);
    return update;
}

}  // namespace mesh::kb
