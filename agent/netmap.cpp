#include "agent/netmap.hpp"

#include <algorithm>

namespace mesh::agent {

namespace {

void upsert(NetMap& map, const PeerInfo& peer) {
    auto it = map.peers.find(peer.node_id);
    if (it != map.peers.end() && it->second.public_key != peer.public_key) {
        forget_ready(map, peer.node_id);  // a new key needs a new handshake
    }
    map.peers[peer.node_id] = peer;
}

}  // namespace

bool is_older(const PeerInfo& peer, const PeerInfo& self) {
    if (peer.key_version != self.key_version) return peer.key_version < self.key_version;
    return peer.node_id < self.node_id;
}

ApplyResult apply_update(NetMap& map, const MapUpdate& update, const std::string& self_id) {
    if (std::find(update.removed.begin(), update.removed.end(), self_id) != update.removed.end()) {
        return ApplyResult::self_removed;
    }
    if (update.full) {
        NetMap fresh;
        fresh.version = update.version;
        fresh.self = update.self;
        for (const auto& peer : update.upserted) {
            if (peer.node_id == self_id) continue;
            fresh.peers[peer.node_id] = peer;
            // Readiness survives a full resync for peers whose key did not change.
            auto old = map.peers.find(peer.node_id);
            if (map.ready.contains(peer.node_id) && old != map.peers.end() &&
                old->second.public_key == peer.public_key) {
                fresh.ready.insert(peer.node_id);
                if (map.initiate.contains(peer.node_id)) fresh.initiate.insert(peer.node_id);
            }
        }
        map = std::move(fresh);
        return ApplyResult::applied;
    }
    if (update.from_version != map.version || update.version < update.from_version) {
        return ApplyResult::gap;
    }
    if (update.self) {
        if (map.self && map.self->public_key != update.self->public_key) {
            map.ready.clear();
            map.initiate.clear();
        }
        map.self = update.self;
    }
    for (const auto& peer : update.upserted) {
        if (peer.node_id != self_id) upsert(map, peer);
    }
    for (const auto& id : update.removed) {
        map.peers.erase(id);
        forget_ready(map, id);
    }
    map.version = update.version;
    return ApplyResult::applied;
}

void mark_ready(NetMap& map, const std::vector<std::string>& initiate,
                const std::vector<std::string>& respond) {
    for (const auto& id : initiate) {
        if (!map.peers.contains(id)) continue;
        map.ready.insert(id);
        map.initiate.insert(id);
    }
    for (const auto& id : respond) {
        if (!map.peers.contains(id)) continue;
        map.ready.insert(id);
        map.initiate.erase(id);
    }
}

void forget_ready(NetMap& map, const std::string& node_id) {
    map.ready.erase(node_id);
    map.initiate.erase(node_id);
}

}  // namespace mesh::agent
