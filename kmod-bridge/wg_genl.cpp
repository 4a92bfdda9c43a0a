#include "kmod-bridge/wg_genl.hpp"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <cstring>

#include "kmod-bridge/error.hpp"

namespace mesh::kb {

namespace {

// A message under construction in a fixed buffer, with libmnl's room-checked puts.
class Builder {
  public:
    Builder(std::size_t size, std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
            std::uint8_t cmd)
        : buffer_(size), size_(size) {
        header_ = mnl_nlmsg_put_header(buffer_.data());
        header_->nlmsg_type = type;
        header_->nlmsg_flags = flags;
        header_->nlmsg_seq = seq;
        auto* genl =
            static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(header_, sizeof(genlmsghdr)));
        genl->cmd = cmd;
        genl->version = type == GENL_ID_CTRL ? 1 : WG_GENL_VERSION;
    }
    nlmsghdr* header() { return header_; }
    std::size_t size() const { return size_; }
    std::vector<std::uint8_t> finish() {
        buffer_.resize(header_->nlmsg_len);
        return std::move(buffer_);
    }

  private:
    std::vector<std::uint8_t> buffer_;
    std::size_t size_;
    nlmsghdr* header_;
};

bool put_sockaddr(nlmsghdr* h, std::size_t size, const Endpoint& e) {
    if (e.address.is_v4()) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(e.port);
        std::memcpy(&sin.sin_addr, e.address.bytes.data(), 4);
        return mnl_attr_put_check(h, size, WGPEER_A_ENDPOINT, sizeof sin, &sin);
    }
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(e.port);
    std::memcpy(&sin6.sin6_addr, e.address.bytes.data(), 16);
    return mnl_attr_put_check(h, size, WGPEER_A_ENDPOINT, sizeof sin6, &sin6);
}

bool put_allowed_ip(nlmsghdr* h, std::size_t size, std::uint16_t index, const IpPrefix& p) {
    nlattr* nest = mnl_attr_nest_start_check(h, size, index);
    if (!nest) return false;
    std::uint16_t family = p.address.is_v4() ? AF_INET : AF_INET6;
    if (!mnl_attr_put_u16_check(h, size, WGALLOWEDIP_A_FAMILY, family) ||
        !mnl_attr_put_check(h, size, WGALLOWEDIP_A_IPADDR, p.address.size(),
                            p.address.bytes.data()) ||
        !mnl_attr_put_u8_check(h, size, WGALLOWEDIP_A_CIDR_MASK, p.length)) {
        mnl_attr_nest_cancel(h, nest);
        return false;
    }
    mnl_attr_nest_end(h, nest);
    return true;
}

// The per-peer fields of a peer's first fragment; false when they do not fit.
bool put_peer_head(nlmsghdr* h, std::size_t size, const PeerUpdate& peer) {
    std::uint32_t flags = 0;
    if (peer.remove) flags |= WGPEER_F_REMOVE_ME;
    if (peer.update_only) flags |= WGPEER_F_UPDATE_ONLY;
    if (peer.replace_allowed_ips) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
    if (flags && !mnl_attr_put_u32_check(h, size, WGPEER_A_FLAGS, flags)) return false;
    if (peer.remove) return true;
    if (peer.endpoint && !put_sockaddr(h, size, *peer.endpoint)) return false;
    if (peer.persistent_keepalive &&
        !mnl_attr_put_u16_check(h, size, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
                                *peer.persistent_keepalive)) {
        return false;
    }
    return true;
}

// Where the encoding of the peer list stands between messages.
struct Cursor {
    std::size_t peer = 0;
    std::size_t allowed_ip = 0;  // > 0: the peer continues from this allowed IP
};

// Puts as much of the peer list as fits; returns false if nothing at all fitted.
bool put_peers(nlmsghdr* h, std::size_t size, const std::vector<PeerUpdate>& peers, Cursor& at) {
    nlattr* list = mnl_attr_nest_start_check(h, size, WGDEVICE_A_PEERS);
    if (!list) return false;
    bool progress = false;
    for (std::uint16_t index = 0; at.peer < peers.size(); ++index) {
        const PeerUpdate& peer = peers[at.peer];
        nlattr* nest = mnl_attr_nest_start_check(h, size, index);
        if (!nest ||
            !mnl_attr_put_check(h, size, WGPEER_A_PUBLIC_KEY, 32, peer.public_key.bytes.data())) {
            if (nest) mnl_attr_nest_cancel(h, nest);
            break;
        }
        bool head_ok = at.allowed_ip == 0
                           ? put_peer_head(h, size, peer)
                           : mnl_attr_put_u32_check(h, size, WGPEER_A_FLAGS, WGPEER_F_UPDATE_ONLY);
        if (!head_ok) {
            mnl_attr_nest_cancel(h, nest);
            break;
        }
        bool complete = true;
        if (!peer.remove && at.allowed_ip < peer.allowed_ips.size()) {
            nlattr* ips = mnl_attr_nest_start_check(h, size, WGPEER_A_ALLOWEDIPS);
            std::uint16_t ip_index = 0;
            while (ips && at.allowed_ip < peer.allowed_ips.size() &&
                   put_allowed_ip(h, size, ip_index++, peer.allowed_ips[at.allowed_ip])) {
                ++at.allowed_ip;
            }
            if (ips) mnl_attr_nest_end(h, ips);
            complete = at.allowed_ip == peer.allowed_ips.size();
        }
        mnl_attr_nest_end(h, nest);
        progress = true;
        if (!complete) break;  // continue this peer in the next message
        ++at.peer;
        at.allowed_ip = 0;
    }
    if (!progress) {
        mnl_attr_nest_cancel(h, list);
        return false;
    }
    mnl_attr_nest_end(h, list);
    return true;
}

}  // namespace

std::vector<std::vector<std::uint8_t>> encode_set_device(const DeviceUpdate& update,
                                                         const std::string& interface,
                                                         std::uint16_t family,
                                                         std::uint32_t first_seq,
                                                         std::size_t max_size) {
    std::vector<std::vector<std::uint8_t>> out;
    if (update.empty()) return out;
    Cursor at;
    bool first = true;
    while (first || at.peer < update.peers.size()) {
        Builder b(max_size, family, NLM_F_REQUEST | NLM_F_ACK,
                  first_seq + static_cast<std::uint32_t>(out.size()), WG_CMD_SET_DEVICE);
        nlmsghdr* h = b.header();
        mnl_attr_put_strz(h, WGDEVICE_A_IFNAME, interface.c_str());
        if (first) {
            if (update.private_key) {
                mnl_attr_put(h, WGDEVICE_A_PRIVATE_KEY, 32, update.private_key->bytes.data());
            }
            if (update.listen_port)
                mnl_attr_put_u16(h, WGDEVICE_A_LISTEN_PORT, *update.listen_port);
            if (update.replace_peers)
                mnl_attr_put_u32(h, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
        }
        if (at.peer < update.peers.size() && !put_peers(h, b.size(), update.peers, at)) {
            throw Error("a WireGuard peer does not fit in a " + std::to_string(max_size) +
                        "-byte netlink message");
        }
        out.push_back(b.finish());
        first = false;
    }
    return out;
}

std::vector<std::uint8_t> encode_get_device(const std::string& interface, std::uint16_t family,
                                            std::uint32_t seq) {
    Builder b(kGenlMessageSize, family, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq,
              WG_CMD_GET_DEVICE);
    mnl_attr_put_strz(b.header(), WGDEVICE_A_IFNAME, interface.c_str());
    return b.finish();
}

std::vector<std::uint8_t> encode_get_family(std::uint32_t seq) {
    Builder b(kGenlMessageSize, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq, CTRL_CMD_GETFAMILY);
    mnl_attr_put_strz(b.header(), CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
    return b.finish();
}

namespace {

struct Attr {
    std::uint16_t type;
    std::span<const std::uint8_t> payload;
};

// Every attribute in data, bounds-checked (a bad length is an error, never a read past the end).
template <class Fn>
void for_each_attr(std::span<const std::uint8_t> data, Fn&& fn) {
    std::size_t offset = 0;
    while (offset + sizeof(nlattr) <= data.size()) {
        nlattr a;
        std::memcpy(&a, data.data() + offset, sizeof a);
        if (a.nla_len < sizeof(nlattr) || a.nla_len > data.size() - offset) {
            throw Error("malformed netlink attribute (length " + std::to_string(a.nla_len) + ")");
        }
        fn(Attr{static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK),
                data.subspan(offset + sizeof(nlattr), a.nla_len - sizeof(nlattr))});
        offset += NLA_ALIGN(a.nla_len);
    }
}

template <class T>
T read_exact(const Attr& a, const char* what) {
    if (a.payload.size() != sizeof(T)) {
        throw Error(std::string("netlink attribute ") + what + " has length " +
                    std::to_string(a.payload.size()) + ", expected " + std::to_string(sizeof(T)));
    }
    T value;
    std::memcpy(&value, a.payload.data(), sizeof value);
    return value;
}

Key read_key(const Attr& a) {
    if (a.payload.size() != 32) throw Error("netlink key attribute is not 32 bytes");
    Key k;
    std::memcpy(k.bytes.data(), a.payload.data(), 32);
    return k;
}

Endpoint read_endpoint(const Attr& a) {
    Endpoint e;
    if (a.payload.size() == sizeof(sockaddr_in)) {
        sockaddr_in sin;
        std::memcpy(&sin, a.payload.data(), sizeof sin);
        if (sin.sin_family != AF_INET) throw Error("IPv4-sized endpoint of another family");
        e.address.family = IpAddress::Family::v4;
        std::memcpy(e.address.bytes.data(), &sin.sin_addr, 4);
        e.port = ntohs(sin.sin_port);
    } else if (a.payload.size() == sizeof(sockaddr_in6)) {
        sockaddr_in6 sin6;
        std::memcpy(&sin6, a.payload.data(), sizeof sin6);
        if (sin6.sin6_family != AF_INET6) throw Error("IPv6-sized endpoint of another family");
        e.address.family = IpAddress::Family::v6;
        std::memcpy(e.address.bytes.data(), &sin6.sin6_addr, 16);
        e.port = ntohs(sin6.sin6_port);
    } else {
        throw Error("endpoint attribute of length " + std::to_string(a.payload.size()));
    }
    return e;
}

IpPrefix read_allowed_ip(std::span<const std::uint8_t> nested) {
    std::uint16_t family = 0;
    std::span<const std::uint8_t> address;
    int cidr = -1;
    for_each_attr(nested, [&](const Attr& a) {
        if (a.type == WGALLOWEDIP_A_FAMILY) family = read_exact<std::uint16_t>(a, "family");
        if (a.type == WGALLOWEDIP_A_IPADDR) address = a.payload;
        if (a.type == WGALLOWEDIP_A_CIDR_MASK) cidr = read_exact<std::uint8_t>(a, "cidr");
    });
    IpPrefix p;
    if (family == AF_INET && address.size() == 4) {
        p.address.family = IpAddress::Family::v4;
    } else if (family == AF_INET6 && address.size() == 16) {
        p.address.family = IpAddress::Family::v6;
    } else {
        throw Error("allowed IP with family " + std::to_string(family) + " and a " +
                    std::to_string(address.size()) + "-byte address");
    }
    std::memcpy(p.address.bytes.data(), address.data(), address.size());
    if (cidr < 0 || static_cast<unsigned>(cidr) > p.address.max_prefix()) {
        throw Error("allowed IP with a missing or out-of-range prefix length");
    }
    p.length = static_cast<std::uint8_t>(cidr);
    return p;
}

PeerState read_peer(std::span<const std::uint8_t> nested) {
    PeerState peer;
    bool have_key = false;
    for_each_attr(nested, [&](const Attr& a) {
        switch (a.type) {
            case WGPEER_A_PUBLIC_KEY:
                peer.config.public_key = read_key(a);
                have_key = true;
                break;
            case WGPEER_A_ENDPOINT:
                peer.config.endpoint = read_endpoint(a);
                break;
            case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
                peer.config.persistent_keepalive = read_exact<std::uint16_t>(a, "keepalive");
                break;
            case WGPEER_A_LAST_HANDSHAKE_TIME: {
                struct {
                    std::int64_t sec, nsec;
                } ts{};
                if (a.payload.size() != sizeof ts) throw Error("handshake time is not 16 bytes");
                std::memcpy(&ts, a.payload.data(), sizeof ts);
                peer.last_handshake_sec = ts.sec;
                peer.last_handshake_nsec = ts.nsec;
                break;
            }
            case WGPEER_A_RX_BYTES:
                peer.rx_bytes = read_exact<std::uint64_t>(a, "rx_bytes");
                break;
            case WGPEER_A_TX_BYTES:
                peer.tx_bytes = read_exact<std::uint64_t>(a, "tx_bytes");
                break;
            case WGPEER_A_ALLOWEDIPS:
                for_each_attr(a.payload, [&](const Attr& ip) {
                    peer.config.allowed_ips.push_back(read_allowed_ip(ip.payload));
                });
                break;
            default:
                break;  // preshared key, flags, protocol version: not part of our model
        }
    });
    if (!have_key) throw Error("a peer in the dump has no public key");
    return peer;
}

std::span<const std::uint8_t> genl_payload(const nlmsghdr& message) {
    const std::size_t header = NLMSG_HDRLEN + GENL_HDRLEN;
    if (message.nlmsg_len < header) throw Error("generic netlink message too short");
    return {reinterpret_cast<const std::uint8_t*>(&message) + header, message.nlmsg_len - header};
}

}  // namespace

std::uint16_t parse_family_id(const nlmsghdr& reply) {
    std::uint16_t id = 0;
    for_each_attr(genl_payload(reply), [&](const Attr& a) {
        if (a.type == CTRL_ATTR_FAMILY_ID) id = read_exact<std::uint16_t>(a, "family id");
    });
    if (id == 0) throw Error("the kernel's answer names no id for the wireguard family");
    return id;
}

void GetDeviceParser::add(const nlmsghdr& message) {
    if (message.nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
    for_each_attr(genl_payload(message), [&](const Attr& a) {
        switch (a.type) {
            case WGDEVICE_A_PRIVATE_KEY: {
                Key k = read_key(a);
                if (!k.is_zero()) state_.private_key = k;
                break;
            }
            case WGDEVICE_A_LISTEN_PORT:
                state_.listen_port = read_exact<std::uint16_t>(a, "listen_port");
                break;
            case WGDEVICE_A_FWMARK:
                state_.fwmark = read_exact<std::uint32_t>(a, "fwmark");
                break;
            case WGDEVICE_A_PEERS:
                for_each_attr(a.payload, [&](const Attr& p) {
                    PeerState peer = read_peer(p.payload);
                    // A peer whose allowed IPs did not fit continues in the next message.
                    if (!state_.peers.empty() &&
                        state_.peers.back().config.public_key == peer.config.public_key) {
                        auto& ips = state_.peers.back().config.allowed_ips;
                        ips.insert(ips.end(), peer.config.allowed_ips.begin(),
                                   peer.config.allowed_ips.end());
                    } else {
                        state_.peers.push_back(std::move(peer));
                    }
                });
                break;
            default:
                break;
        }
    });
}

}  // namespace mesh::kb
