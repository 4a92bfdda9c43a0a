#pragma once
// The etcd store's layout: which key holds what, and the records' bytes (mesh.store.v1, see
// proto/mesh/v1/store_records.proto). Pure: no client, no I/O, so the layout is unit-tested and
// the decoders (which read what any replica, or anyone with access to etcd, wrote) are fuzzed.
//
//   PREFIX version            the map version, decimal (every map change moves it)
//   PREFIX meta/KEY           settings fixed at the first start, the operator credential
//   PREFIX tokens/ID          join tokens
//   PREFIX nodes/ID           the registry
//   PREFIX removed/ID         tombstones: the version that removed the node, decimal
//   PREFIX holds/PREFIX       container subnets held for removed hosts ('/' written as '_')
//   PREFIX seen/ID            last_seen, decimal (bookkeeping, no map change)
//   PREFIX live/ID            the node's Sync stream is open on a replica (under its lease)
//   PREFIX acks/REPLICA       what that replica's nodes applied (under its lease)
//   PREFIX reaper             the replica that runs the reaper (under its lease)
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coordinator/model.hpp"

namespace mesh::coord {

class EtcdKeys {
  public:
    explicit EtcdKeys(std::string prefix) : prefix_(std::move(prefix)) {}

    enum class Kind { version, meta, token, node, removed, hold, seen, live, acks, reaper, other };
    struct Parsed {
        Kind kind = Kind::other;
        std::string name;  // the id, meta key, replica or prefix text (holds: with '/')
    };

    const std::string& prefix() const { return prefix_; }
    std::string version() const { return prefix_ + "version"; }
    std::string meta(std::string_view key) const { return prefix_ + "meta/" + std::string(key); }
    std::string token(std::string_view id) const { return prefix_ + "tokens/" + std::string(id); }
    std::string node(std::string_view id) const { return prefix_ + "nodes/" + std::string(id); }
    std::string removed(std::string_view id) const {
        return prefix_ + "removed/" + std::string(id);
    }
    std::string hold(const IpPrefix& prefix) const;
    std::string seen(std::string_view id) const { return prefix_ + "seen/" + std::string(id); }
    std::string live(std::string_view id) const { return prefix_ + "live/" + std::string(id); }
    std::string acks(std::string_view replica) const {
        return prefix_ + "acks/" + std::string(replica);
    }
    std::string reaper() const { return prefix_ + "reaper"; }
    // The directory of one kind, e.g. dir("nodes/"): a range over it lists them all.
    std::string dir(std::string_view sub) const { return prefix_ + std::string(sub); }

    Parsed parse(std::string_view key) const;

  private:
    std::string prefix_;
};

// The end of etcd's range over every key starting with `prefix` (prefix with its last byte + 1).
std::string prefix_range_end(std::string_view prefix);

std::string encode_node(const NodeRecord& node);
std::string encode_token(const TokenRecord& token);
std::string encode_hold(const ContainerHold& hold);
// The decoders throw mesh::Error naming `key` for bytes that are no such record.
NodeRecord decode_node(std::string_view bytes, std::string_view key);
TokenRecord decode_token(std::string_view bytes, std::string_view key);
ContainerHold decode_hold(std::string_view bytes, std::string_view key);
// A decimal uint64 value (version, removed, seen); throws mesh::Error naming `key`.
std::uint64_t decode_number(std::string_view text, std::string_view key);

// A node's Sync stream on a replica, with its last path report (none yet: paths unset).
struct LiveNode {
    std::string replica;
    std::optional<NodePaths> paths;
    bool operator==(const LiveNode&) const = default;
};
std::string encode_live(const LiveNode& live);
LiveNode decode_live(std::string_view bytes, std::string_view key);

// What the nodes streaming to one replica (those whose live/ key names it) have applied:
// `version` for all of them except those in `behind` (their own applied version). Readiness
// needs only whether a node holds a peer's current key, so `version` is the newest key change
// the replica's map has, and a node is behind only while it has not applied that one: endpoint
// changes leave the summary as it was.
struct AckSummary {
    std::uint64_t version = 0;
    std::unordered_map<std::string, std::uint64_t> behind;
    bool operator==(const AckSummary&) const = default;
};
std::string encode_acks(const AckSummary& acks);
AckSummary decode_acks(std::string_view bytes, std::string_view key);

}  // namespace mesh::coord
