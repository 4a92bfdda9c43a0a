#include "coordinator/fanout/mesh_map.hpp"

#include <algorithm>

namespace mesh::coord {

namespace {

std::uint32_t to_u32(const IpAddress& a) {
    return std::uint32_t{a.bytes[0]} << 24 | std::uint32_t{a.bytes[1]} << 16 |
           std::uint32_t{a.bytes[2]} << 8 | std::uint32_t{a.bytes[3]};
}

}  // namespace

MeshMap::MeshMap(IpPrefix ipv4_prefix, PeerEncoder encode)
    : ipv4_prefix_(ipv4_prefix.masked()), encode_(std::move(encode)) {}

void MeshMap::load(const std::vector<NodeRecord>& nodes, const std::vector<Removal>& removed,
                   std::uint64_t version) {
    for (const auto& r : removed) {
        removed_[r.version] = r.id;
        removed_ids_[r.id] = r.version;
    }
    for (const auto& n : nodes) upsert(n);
    version_ = std::max(version_, version);
}

void MeshMap::take_address(const IpAddress& a) {
    if (!ipv4_prefix_.contains(a)) return;
    std::uint64_t offset = to_u32(a) - to_u32(ipv4_prefix_.address);
    if (offset >= high_water_) {
        for (auto o = high_water_; o < offset; ++o) holes_.insert(o);  // only on load
        high_water_ = offset + 1;
    } else {
        holes_.erase(offset);
    }
}

void MeshMap::free_address(const IpAddress& a) {
    if (!ipv4_prefix_.contains(a)) return;
    std::uint64_t offset = to_u32(a) - to_u32(ipv4_prefix_.address);
    if (offset == 0 || offset >= high_water_) return;
    if (offset + 1 == high_water_) {
        // The top address: lower the water mark past it and past holes right below.
        --high_water_;
        while (high_water_ > 1 && holes_.erase(high_water_ - 1)) --high_water_;
    } else {
        holes_.insert(offset);
    }
}

std::optional<IpAddress> MeshMap::free_ipv4() const {
    const std::uint64_t size = std::uint64_t{1} << (32 - ipv4_prefix_.length);
    std::uint64_t offset = holes_.empty() ? high_water_ : *holes_.begin();
    if (size < 4 || offset >= size - 1)
        return std::nullopt;  // the broadcast address is never given
    return IpAddress::v4(to_u32(ipv4_prefix_.address) + static_cast<std::uint32_t>(offset));
}

std::string MeshMap::unique_hostname(const std::string& base, const std::string& except_id) const {
    auto taken = [&](const std::string& h) {
        auto it = by_hostname_.find(h);
        return it != by_hostname_.end() && it->second != except_id;
    };
    if (!taken(base)) return base;
    unsigned& hint = next_suffix_[base];
    for (unsigned n = std::max(hint, 2u);; ++n) {
        std::string suffix = "-" + std::to_string(n);
        std::string candidate = base.substr(0, 63 - suffix.size()) + suffix;
        if (!taken(candidate)) {
            hint = n;  // taken from now on, most likely: the next search starts here
            return candidate;
        }
    }
}

void MeshMap::index(const MapNode& node) {
    const auto& r = node.record;
    by_hostname_[r.hostname] = r.id;
    by_machine_key_[r.machine_key] = r.id;
    by_wireguard_key_[r.wireguard_key] = r.id;
    by_version_[r.version] = &node;
    by_key_version_[r.key_version] = &node;
    take_address(r.ipv4);
    for (const auto& p : r.container_subnets) container_subnets_.add(p, r.id);
}

void MeshMap::unindex(const NodeRecord& r) {
    auto drop = [&](auto& index, const auto& key) {
        auto it = index.find(key);
        if (it != index.end() && it->second == r.id) index.erase(it);
    };
    drop(by_hostname_, r.hostname);
    drop(by_machine_key_, r.machine_key);
    drop(by_wireguard_key_, r.wireguard_key);
    auto drop_node = [&](auto& index, std::uint64_t key) {
        auto it = index.find(key);
        if (it != index.end() && it->second->record.id == r.id) index.erase(it);
    };
    drop_node(by_version_, r.version);
    drop_node(by_key_version_, r.key_version);
    free_address(r.ipv4);
    for (const auto& p : r.container_subnets) {
        auto held = container_subnets_.overlapping(p);
        if (held && held->owner == r.id) container_subnets_.remove(p);
    }
}

void MeshMap::upsert(const NodeRecord& node) {
    auto it = nodes_.find(node.id);
    if (it != nodes_.end()) {
        unindex(it->second.record);
    } else {
        it = nodes_.emplace(node.id, MapNode{}).first;
    }
    it->second.record = node;
    it->second.peer_bytes = std::make_shared<const std::string>(encode_(node));
    index(it->second);
    version_ = std::max(version_, node.version);
}

void MeshMap::remove(const std::string& id, std::uint64_t version) {
    auto it = nodes_.find(id);
    if (it != nodes_.end()) {
        unindex(it->second.record);
        nodes_.erase(it);
    }
    if (auto old = removed_ids_.find(id); old != removed_ids_.end()) removed_.erase(old->second);
    removed_[version] = id;
    removed_ids_[id] = version;
    version_ = std::max(version_, version);
}

std::optional<std::uint64_t> MeshMap::removed_at(const std::string& id) const {
    auto it = removed_ids_.find(id);
    if (it == removed_ids_.end()) return std::nullopt;
    return it->second;
}

void MeshMap::set_last_seen(const std::string& id, std::int64_t last_seen) {
    auto it = nodes_.find(id);
    if (it != nodes_.end()) it->second.record.last_seen = last_seen;
}

const MapNode* MeshMap::find(const std::string& id) const {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : &it->second;
}

const MapNode* MeshMap::by_machine_key(const Key& key) const {
    auto it = by_machine_key_.find(key);
    return it == by_machine_key_.end() ? nullptr : find(it->second);
}

const MapNode* MeshMap::by_wireguard_key(const Key& key) const {
    auto it = by_wireguard_key_.find(key);
    return it == by_wireguard_key_.end() ? nullptr : find(it->second);
}

const MapNode* MeshMap::by_hostname(const std::string& hostname) const {
    auto it = by_hostname_.find(hostname);
    return it == by_hostname_.end() ? nullptr : find(it->second);
}

MeshMap::Changes MeshMap::since(std::uint64_t since) const {
    Changes c;
    if (since == 0 || since > version_) {
        c.complete = true;
        c.changed.reserve(nodes_.size());
        for (const auto& [id, node] : nodes_) c.changed.push_back(&node);
        return c;
    }
    for (auto it = by_version_.upper_bound(since); it != by_version_.end(); ++it) {
        c.changed.push_back(it->second);
    }
    for (auto it = removed_.upper_bound(since); it != removed_.end(); ++it) {
        c.removed.push_back(it->second);
    }
    return c;
}

std::size_t MeshMap::changed_count_since(std::uint64_t since) const {
    if (since == 0 || since > version_) return nodes_.size();
    auto first = by_version_.upper_bound(since);
    auto gone = removed_.upper_bound(since);
    return static_cast<std::size_t>(std::distance(first, by_version_.end()) +
                                    std::distance(gone, removed_.end()));
}

void MeshMap::for_keys_set_in(std::uint64_t after, std::uint64_t up_to,
                              const std::function<void(const MapNode&)>& f) const {
    if (up_to <= after) return;
    auto end = by_key_version_.upper_bound(up_to);
    for (auto it = by_key_version_.upper_bound(after); it != end; ++it) {
        f(*it->second);
    }
}

}  // namespace mesh::coord
