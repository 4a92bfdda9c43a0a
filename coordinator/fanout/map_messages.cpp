#include "coordinator/fanout/map_messages.hpp"

namespace mesh::coord {

namespace {

// Field numbers of mesh/v1/coordinator.proto.
namespace response {
constexpr std::uint32_t full = 1, delta = 2, ready = 3, challenge = 4;
}
namespace netmap {
constexpr std::uint32_t version = 1, self = 2, peers = 3, network = 4, continued = 5;
}
namespace netmap_delta {
constexpr std::uint32_t from_version = 1, version = 2, upserted = 3, removed = 4, self = 5;
}
namespace peers_ready {
constexpr std::uint32_t initiate = 1, respond = 2;
}
namespace challenge_msg {
constexpr std::uint32_t nonce = 1;
}

// A SyncResponse whose one field `field` holds `body` (slices) after `head` (bytes).
WireMessage wrap(std::uint32_t field, std::string head, std::vector<Slice> body) {
    std::size_t size = head.size();
    for (const auto& s : body) size += s.size;
    std::string prefix;
    wire::put_header(prefix, field, size);
    prefix += head;
    WireMessage m;
    m.append(std::move(prefix));
    for (auto& s : body) {
        if (s.size) m.slices.push_back(std::move(s));
    }
    return m;
}

}  // namespace

std::string block_key(const std::string& node_id) {
    return node_id.substr(0, 4);
}

MapMessages::MapMessages(std::string network_bytes, std::size_t max_message_bytes)
    : network_bytes_(std::move(network_bytes)), max_message_bytes_(max_message_bytes) {}

void MapMessages::rebuild(const MeshMap& map, const std::string& key) {
    Block block;
    auto bytes = std::make_shared<std::string>();
    const auto& nodes = map.nodes();
    for (auto it = nodes.lower_bound(key); it != nodes.end() && block_key(it->first) == key; ++it) {
        if (it->second.record.expired) continue;
        std::size_t begin = bytes->size();
        wire::put_bytes(*bytes, netmap::peers, *it->second.peer_bytes);
        block.entries.push_back({it->first, {begin, bytes->size() - begin}});
    }
    if (block.entries.empty()) {
        blocks_.erase(key);
        return;
    }
    block.bytes = std::move(bytes);
    blocks_[key] = std::move(block);
}

void MapMessages::sync_blocks(const MeshMap& map) {
    if (blocks_loaded_ && map.version() == blocks_version_) return;
    std::set<std::string> stale;
    if (!blocks_loaded_ || map.version() < blocks_version_) {
        blocks_.clear();
        for (const auto& [id, node] : map.nodes()) stale.insert(block_key(id));
    } else {
        auto changes = map.since(blocks_version_);
        for (const auto* n : changes.changed) stale.insert(block_key(n->record.id));
        for (const auto& id : changes.removed) stale.insert(block_key(id));
    }
    for (const auto& key : stale) rebuild(map, key);
    blocks_version_ = map.version();
    blocks_loaded_ = true;
}

std::vector<WireMessage> MapMessages::full(const MeshMap& map, const MapNode& self) {
    sync_blocks(map);
    // The peers, as slices of the blocks, leaving out the recipient's own entry.
    std::vector<Slice> peers;
    for (const auto& [key, block] : blocks_) {
        std::size_t from = 0;
        for (const auto& [id, range] : block.entries) {
            if (id != self.record.id) continue;
            peers.push_back({block.bytes, from, range.first - from});
            from = range.first + range.second;
        }
        peers.push_back({block.bytes, from, block.bytes->size() - from});
    }
    // Chunks: the first carries self and the network; each carries the version; the last one
    // alone leaves `continued` unset.
    std::vector<std::vector<Slice>> chunks(1);
    std::size_t chunk_size = self.peer_bytes->size() + network_bytes_.size();
    for (auto& s : peers) {
        if (s.size == 0) continue;
        if (chunk_size + s.size > max_message_bytes_ && !chunks.back().empty()) {
            chunks.emplace_back();
            chunk_size = 0;
        }
        chunk_size += s.size;
        chunks.back().push_back(std::move(s));
    }
    std::vector<WireMessage> out;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        std::string head;
        wire::put_uint(head, netmap::version, map.version());
        if (i == 0) {
            wire::put_bytes(head, netmap::self, *self.peer_bytes);
            wire::put_bytes(head, netmap::network, network_bytes_);
        }
        std::string tail;
        wire::put_bool(tail, netmap::continued, i + 1 < chunks.size());
        auto body = std::move(chunks[i]);
        if (!tail.empty()) {
            std::size_t n = tail.size();
            body.push_back({std::make_shared<const std::string>(std::move(tail)), 0, n});
        }
        out.push_back(wrap(response::full, std::move(head), std::move(body)));
    }
    return out;
}

std::optional<WireMessage> MapMessages::delta_body(const MeshMap& map, std::uint64_t from,
                                                   const std::string& recipient,
                                                   std::set<std::string>* touched) const {
    auto changes = map.since(from);
    if (changes.complete) return std::nullopt;
    std::string head;
    wire::put_uint(head, netmap_delta::from_version, from);
    wire::put_uint(head, netmap_delta::version, map.version());
    auto body = std::make_shared<std::string>();
    std::vector<std::string> removed = std::move(changes.removed);
    for (const auto* n : changes.changed) {
        if (touched) touched->insert(n->record.id);
        if (n->record.id == recipient) {
            wire::put_bytes(*body, netmap_delta::self, *n->peer_bytes);
        } else if (n->record.expired) {
            removed.push_back(n->record.id);  // an expired node leaves its peers' maps
        } else {
            wire::put_bytes(*body, netmap_delta::upserted, *n->peer_bytes);
        }
        if (body->size() > max_message_bytes_) return std::nullopt;
    }
    for (const auto& id : removed) {
        if (touched) touched->insert(id);
        wire::put_bytes(*body, netmap_delta::removed, id);
    }
    if (body->size() > max_message_bytes_) return std::nullopt;
    std::size_t n = body->size();
    return wrap(response::delta, std::move(head), {{std::move(body), 0, n}});
}

std::optional<WireMessage> MapMessages::delta(const MeshMap& map, std::uint64_t from,
                                              const std::string& recipient) const {
    return delta_body(map, from, recipient, nullptr);
}

std::optional<SharedDelta> MapMessages::shared_delta(const MeshMap& map, std::uint64_t from) const {
    SharedDelta d;
    auto message = delta_body(map, from, "", &d.touched);
    if (!message) return std::nullopt;
    d.from = from;
    d.to = map.version();
    d.message = std::move(*message);
    return d;
}

WireMessage MapMessages::removed_self(std::uint64_t from, std::uint64_t version,
                                      const std::string& node_id) {
    std::string head;
    wire::put_uint(head, netmap_delta::from_version, from);
    wire::put_uint(head, netmap_delta::version, std::max(from, version));
    wire::put_bytes(head, netmap_delta::removed, node_id);
    return wrap(response::delta, std::move(head), {});
}

std::vector<WireMessage> MapMessages::ready(const std::vector<std::string>& initiate,
                                            const std::vector<std::string>& respond) const {
    std::vector<WireMessage> out;
    std::string body;
    auto flush = [&] {
        if (body.empty()) return;
        out.push_back(wrap(response::ready, std::move(body), {}));
        body.clear();
    };
    for (const auto& id : initiate) {
        if (body.size() + id.size() + 8 > max_message_bytes_) flush();
        wire::put_bytes(body, peers_ready::initiate, id);
    }
    for (const auto& id : respond) {
        if (body.size() + id.size() + 8 > max_message_bytes_) flush();
        wire::put_bytes(body, peers_ready::respond, id);
    }
    flush();
    return out;
}

WireMessage MapMessages::challenge(const std::string& nonce) {
    std::string body;
    wire::put_bytes(body, challenge_msg::nonce, nonce);
    return wrap(response::challenge, std::move(body), {});
}

}  // namespace mesh::coord
