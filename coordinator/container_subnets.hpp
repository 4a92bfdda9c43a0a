#pragma once
// Container subnets (container-host networking): what a host may ask for, which prefixes it may
// hold, and block allocation from the pool. Pure: the taken prefixes come in as an index.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/model.hpp"

namespace mesh::coord {

// JoinRequest.container_subnet, parsed. Throws StatusError(invalid_argument) with a message
// naming what is wrong (malformed, host bits set, not unicast, a size no bridge can use).
struct ContainerRequest {
    enum class Kind { unchanged, none, automatic, prefix };
    Kind kind = Kind::unchanged;
    IpPrefix prefix;  // Kind::prefix only
};
ContainerRequest parse_container_request(std::string_view text);

// Whether a and b share any address (same family, one contains the other).
bool overlaps(const IpPrefix& a, const IpPrefix& b);

// Non-overlapping prefixes with an owner each, ordered by address: answers "which entry overlaps
// this prefix" in O(log N).
class SubnetIndex {
  public:
    struct Entry {
        IpPrefix prefix;
        std::string owner;
    };
    void add(const IpPrefix& prefix, std::string owner);  // the caller checked overlapping()
    void remove(const IpPrefix& prefix);
    std::optional<Entry> overlapping(const IpPrefix& prefix) const;
    std::size_t size() const { return entries_.size(); }

  private:
    std::map<IpPrefix, std::string> entries_;  // masked prefix -> owner
};

// The first block of `length` inside pool that no index entry overlaps (lowest address first),
// in O(k log N) for k taken blocks before it; nullopt when the pool is full.
std::optional<IpPrefix> first_free_block(const IpPrefix& pool, unsigned length,
                                         const std::vector<const SubnetIndex*>& taken);

// Throws mesh::Error when the pool cannot serve: a family's block longer than the pool, blocks
// too small for a bridge (IPv4 longer than /30, IPv6 longer than /124), or a pool overlapping
// the overlay.
void validate_container_pool(const IpPrefix& pool, unsigned length, const IpPrefix& overlay_v4,
                             const IpPrefix& overlay_v6);

}  // namespace mesh::coord
