#include "coordinator/container_subnets.hpp"

#include <span>

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

// The special range p overlaps (loopback, link-local, multicast, ...); "" when none.
std::string special_range(const IpPrefix& p) {
    static const char* const v4[] = {"0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4",
                                     "240.0.0.0/4"};
    static const char* const v6[] = {"::/96", "::ffff:0:0/96", "fe80::/10", "ff00::/8"};
    for (const char* r :
         p.address.is_v4() ? std::span<const char* const>(v4) : std::span<const char* const>(v6)) {
        if (overlaps(p, IpPrefix::parse(r))) return r;
    }
    return "";
}

// Why a prefix cannot be a container subnet; "" when it can.
std::string unicast_refusal(const IpPrefix& p) {
    if (p.address.is_v4() && (p.length < 8 || p.length > 30)) {
        return "not between /8 and /30 (a bridge needs room)";
    }
    if (!p.address.is_v4() && (p.length < 32 || p.length > 124)) return "not between /32 and /124";
    if (auto r = special_range(p); !r.empty()) return "not unicast (it overlaps " + r + ")";
    return "";
}

}  // namespace

bool overlaps(const IpPrefix& a, const IpPrefix& b) {
    if (a.address.family != b.address.family) return false;
    return a.contains(b.address) || b.contains(a.address);
}

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
    // Entries do not overlap each other, so only two can matter: the last one starting at or
    // before p (it may contain p) and the first one starting after (p may contain it).
    auto after = entries_.upper_bound(IpPrefix{p.address, 255});
    if (after != entries_.end() && overlaps(after->first, p))
        return Entry{after->first, after->second};
    auto it = after;
    while (it != entries_.begin()) {
        --it;
        if (it->first.address.family != p.address.family) break;
        if (overlaps(it->first, p)) return Entry{it->first, it->second};
        // The entry before p's start that could contain p is the nearest one; any earlier entry
        // ends before it starts.
        if (it->first.address < p.address) break;
    }
    return std::nullopt;
}

std::optional<IpPrefix> first_free_block(const IpPrefix& pool, unsigned length,
                                         const std::vector<const SubnetIndex*>& taken) {
    if (length < pool.length || length > pool.address.max_prefix()) return std::nullopt;
    const IpPrefix range = pool.masked();
    IpPrefix candidate{range.address, static_cast<std::uint8_t>(length)};
    // Each step skips past one taken entry, so the loop ends within (entries + 1) steps.
    for (;;) {
        std::optional<SubnetIndex::Entry> blocker;
        for (const auto* index : taken) {
            if ((blocker = index->overlapping(candidate))) break;
        }
        if (!blocker) return candidate;
        // The next block starting after whichever of the two ends later.
        IpAddress end =
            last_address(blocker->prefix.length < candidate.length ? blocker->prefix : candidate);
        if (!increment(end) || !range.contains(end)) return std::nullopt;
        IpPrefix next = IpPrefix{end, static_cast<std::uint8_t>(length)}.masked();
        if (next.address < end) {
            IpAddress after = last_address(next);
            if (!increment(after) || !range.contains(after)) return std::nullopt;
            next = IpPrefix{after, static_cast<std::uint8_t>(length)};
        }
        candidate = next;
    }
}

void validate_container_pool(const IpPrefix& pool, unsigned length, const IpPrefix& overlay_v4,
                             const IpPrefix& overlay_v6) {
    const std::string name = "container pool " + pool.to_string();
    if (pool.masked() != pool) throw Error(name + " has host bits set");
    if (length < pool.length) {
        throw Error(name + ": a block (/" + std::to_string(length) +
                    ") cannot be larger than "
                    "the pool");
    }
    unsigned longest = pool.address.is_v4() ? 30 : 124;
    if (length > longest) {
        throw Error(name + ": blocks longer than /" + std::to_string(longest) +
                    " leave no room for a bridge and containers");
    }
    if (overlaps(pool, overlay_v4) || overlaps(pool, overlay_v6)) {
        throw Error(name + " overlaps the overlay prefix");
    }
    if (auto r = special_range(pool); !r.empty()) {
        throw Error(name + " is not unicast (it overlaps " + r + ")");
    }
}

}  // namespace mesh::coord
