#include "coordinator/sync_session.hpp"

#include <algorithm>

#include "coordinator/status_error.hpp"

namespace mesh::coord {

StatusError SyncSession::expired_error() const {
    return StatusError(Code::permission_denied,
                       "node " + node_id_ + "'s key expired; join again with a token");
}

SyncSession::SyncSession(std::string node_id, std::uint64_t client_version)
    : node_id_(std::move(node_id)), sent_version_(client_version) {}

void SyncSession::track(const NodeRecord& peer) {
    auto [it, inserted] = key_versions_.try_emplace(peer.id, peer.key_version);
    if (!inserted && it->second != peer.key_version) {
        it->second = peer.key_version;
        ready_.erase(peer.id);  // a new key needs a new handshake once both sides have it
    }
}

void SyncSession::track_self(const NodeRecord& self) {
    if (self.key_version != self_key_version_) {
        self_key_version_ = self.key_version;
        ready_.clear();
    }
}

// A resumed session starts from a delta that may mention neither this node nor most peers; the
// readiness rules need both the node's own key version and every peer's, so read them first.
void SyncSession::seed(Store& store) {
    auto self = store.node(node_id_);
    if (!self) throw StatusError(Code::not_found, "node " + node_id_ + " does not exist");
    if (self->expired) throw expired_error();
    track_self(*self);
    for (const auto& node : store.nodes()) {
        if (node.id != node_id_ && !node.expired) track(node);
    }
}

std::optional<MapMessage> SyncSession::next_map(Store& store) {
    if (!sent_any_) seed(store);
    MapChanges changes = store.changes_since(sent_any_ || sent_version_ != 0 ? sent_version_ : 0);
    if (sent_any_ && !changes.complete && changes.version == sent_version_) return std::nullopt;

    auto removed_self = std::find(changes.removed.begin(), changes.removed.end(), node_id_);
    if (removed_self != changes.removed.end()) {
        throw StatusError(Code::not_found, "node " + node_id_ + " was removed by the operator");
    }

    MapMessage msg;
    msg.full = changes.complete;
    msg.from_version = msg.full ? 0 : sent_version_;
    msg.version = changes.version;
    if (msg.full) {
        key_versions_.clear();
        ready_.clear();
    }
    for (auto& node : changes.changed) {
        if (node.id == node_id_) {
            if (node.expired) throw expired_error();
            track_self(node);
            msg.self = std::move(node);
        } else if (node.expired) {
            // An expired node leaves its peers' maps as if removed; a full map leaves it out.
            if (!msg.full) changes.removed.push_back(node.id);
        } else {
            track(node);
            msg.peers.push_back(std::move(node));
        }
    }
    for (const auto& id : changes.removed) {
        key_versions_.erase(id);
        ready_.erase(id);
    }
    msg.removed = std::move(changes.removed);
    if (msg.full && !msg.self) {
        throw StatusError(Code::not_found, "node " + node_id_ + " does not exist; join again");
    }
    sent_version_ = msg.version;
    sent_any_ = true;
    return msg;
}

std::vector<ReadyPeer> SyncSession::newly_ready(const AppliedLookup& applied) {
    std::vector<ReadyPeer> out;
    auto mine = applied(node_id_);
    if (!mine) return out;
    for (const auto& [peer, key_version] : key_versions_) {
        if (ready_.contains(peer) || *mine < key_version) continue;
        auto theirs = applied(peer);
        if (theirs && *theirs >= self_key_version_) {
            ready_.insert(peer);
            bool younger = self_key_version_ > key_version ||
                           (self_key_version_ == key_version && node_id_ > peer);
            out.push_back({peer, younger});
        }
    }
    return out;
}

}  // namespace mesh::coord
