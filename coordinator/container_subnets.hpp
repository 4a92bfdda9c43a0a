#pragma once
// Container subnets (container-host networking): what a host may ask for, which prefixes it may
// hold, and block allocation from the pool. Pure: the taken prefixes come in as an index.
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

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

// The longest block a host's bridge and its containers fit in.
constexpr unsigned kLongestV4Subnet = 30;
constexpr unsigned kLongestV6Subnet = 124;

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

// The first block of `length` inside pool that no entry of `taken` overlaps (lowest address
// first), in O(k log N) for k taken entries before it; nullopt when the pool is full.
std::optional<IpPrefix> first_free_block(const IpPrefix& pool, unsigned length,
                                         const SubnetIndex& taken);
// The same with the entries of several indexes taken (hosts' subnets, and those held for
// removed hosts).
std::optional<IpPrefix> first_free_block(const IpPrefix& pool, unsigned length,
                                         std::initializer_list<const SubnetIndex*> taken);

// Throws mesh::Error when the pool cannot serve: host bits set, a block larger than the pool or
// longer than kLongest*Subnet, a pool overlapping the overlay or a special-purpose range.
void validate_container_pool(const IpPrefix& pool, unsigned length, const IpPrefix& overlay_v4,
                             const IpPrefix& overlay_v6);

}  // namespace mesh::coord
