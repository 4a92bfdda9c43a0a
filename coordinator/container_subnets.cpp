#include "coordinator/container_subnets.hpp"

#include <iterator>

#include "coordinator/endpoint_policy.hpp"
#include "coordinator/status_error.hpp"

namespace mesh::coord {

namespace {

// The prefix's last address (every host bit set).
IpAddress last_address(const IpPrefix& p) {
    IpAddress a = p.masked().address;
    for (unsigned i = 0; i < a.size(); ++i) {
        unsigned bits_before = i * 8;
        if (bits_before >= p.length) {
            a.bytes[i] = 0xff;
        } else if (p.length - bits_before < 8) {
            a.bytes[i] |= static_cast<std::uint8_t>(0xff >> (p.length - bits_before));
        }
    }
    return a;
}

// a + 1; false when it wrapped (a was the family's last address).
bool increment(IpAddress& a) {
    for (int i = static_cast<int>(a.size()) - 1; i >= 0; --i) {
        if (++a.bytes[static_cast<unsigned>(i)] != 0) return true;
    }
    return false;
}

// Why a prefix cannot be a container subnet; "" when it can.
std::string unicast_refusal(const IpPrefix& p) {
    const unsigned shortest = p.address.is_v4() ? 8 : 32;
    const unsigned longest = p.address.is_v4() ? kLongestV4Subnet : kLongestV6Subnet;
    if (p.length < shortest || p.length > longest) {
        return "not between /" + std::to_string(shortest) + " and /" + std::to_string(longest) +
               " (a bridge and its containers need room)";
    }
    if (auto r = special_range(p)) return "not unicast (it overlaps " + *r + ")";
    return "";
}

}  // namespace

ContainerRequest parse_container_request(std::string_view text) {
    ContainerRequest r;
    if (text.empty()) return r;
    if (text == "none") {
        r.kind = ContainerRequest::Kind::none;
        return r;
    }
    if (text == "auto") {
        r.kind = ContainerRequest::Kind::automatic;
        return r;
    }
    IpPrefix p;
    try {
        p = IpPrefix::parse(text, /*allow_host_bits=*/true);
    } catch (const Error&) {
        // Not echoed: this is checked before the join's token.
        throw StatusError(Code::invalid_argument,
                          "container_subnet is not \"auto\", \"none\" or a prefix such as "
                          "10.50.3.0/24");
    }
    if (text.find('/') == std::string_view::npos) {
        throw StatusError(Code::invalid_argument,
                          "container_subnet needs a prefix length (such as 10.50.3.0/24)");
    }
    if (p.masked() != p) {
        throw StatusError(Code::invalid_argument, "container subnet " + p.to_string() +
                                                      " has host bits set; did you mean " +
                                                      p.masked().to_string() + "?");
    }
    if (auto why = unicast_refusal(p); !why.empty()) {
        throw StatusError(Code::invalid_argument,
                          "container subnet " + p.to_string() + " is " + why);
    }
    r.kind = ContainerRequest::Kind::prefix;
    r.prefix = p;
    return r;
}

void SubnetIndex::add(const IpPrefix& prefix, std::string owner) {
    entries_[prefix.masked()] = std::move(owner);
}

void SubnetIndex::remove(const IpPrefix& prefix) {
    entries_.erase(prefix.masked());
}

std::optional<SubnetIndex::Entry> SubnetIndex::overlapping(const IpPrefix& prefix) const {
    auto p = prefix.masked();
    // Entries do not overlap each other, so only two can: the first one starting after p's
    // start (p may contain it) and the last one starting at or before it (it may contain p).
    auto after = entries_.upper_bound(IpPrefix{p.address, 255});
    if (after != entries_.end() && after->first.overlaps(p))
        return Entry{after->first, after->second};
    if (after != entries_.begin()) {
        auto before = std::prev(after);
        if (before->first.overlaps(p)) return Entry{before->first, before->second};
    }
    return std::nullopt;
}

std::optional<IpPrefix> first_free_block(const IpPrefix& pool, unsigned length,
                                         const SubnetIndex& taken) {
    return first_free_block(pool, length, {&taken});
}

std::optional<IpPrefix> first_free_block(const IpPrefix& pool, unsigned length,
                                         std::initializer_list<const SubnetIndex*> taken) {
    if (length < pool.length || length > pool.address.max_prefix()) return std::nullopt;
    const IpPrefix range = pool.masked();
    IpPrefix candidate{range.address, static_cast<std::uint8_t>(length)};
    auto blocking = [&](const IpPrefix& block) -> std::optional<SubnetIndex::Entry> {
        for (const auto* index : taken) {
            if (auto entry = index->overlapping(block)) return entry;
        }
        return std::nullopt;
    };
    // Each step moves past one taken entry, so the loop ends within (entries + 1) steps.
    while (auto blocker = blocking(candidate)) {
        // One contains the other: go on right after the larger. That address is a block boundary:
        // a blocker larger than a block is aligned to its own, coarser length; otherwise the
        // candidate block itself ended there.
        IpAddress end =
            last_address(blocker->prefix.length < candidate.length ? blocker->prefix : candidate);
        if (!increment(end) || !range.contains(end)) return std::nullopt;
        candidate = IpPrefix{end, static_cast<std::uint8_t>(length)};
    }
    return candidate;
}

void validate_container_pool(const IpPrefix& pool, unsigned length, const IpPrefix& overlay_v4,
                             const IpPrefix& overlay_v6) {
    const std::string name = "container pool " + pool.to_string();
    if (pool.masked() != pool) throw Error(name + " has host bits set");
    if (length < pool.length) {
        throw Error(name + ": a block (/" + std::to_string(length) +
                    ") cannot be larger than the pool");
    }
    const unsigned longest = pool.address.is_v4() ? kLongestV4Subnet : kLongestV6Subnet;
    if (length > longest) {
        throw Error(name + ": blocks longer than /" + std::to_string(longest) +
                    " leave no room for a bridge and containers");
    }
    if (pool.overlaps(overlay_v4) || pool.overlaps(overlay_v6)) {
        throw Error(name + " overlaps the overlay prefix");
    }
    if (auto r = special_range(pool))
        throw Error(name + " is not unicast (it overlaps " + *r + ")");
}

}  // namespace mesh::coord
