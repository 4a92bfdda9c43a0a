#include "tests/bench/load/wire_scan.hpp"

#include "coordinator/fanout/wire.hpp"

namespace mesh::load {

namespace {

// A cursor over protobuf wire bytes.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : p_(bytes) {}
    bool done() const { return p_.empty(); }
    bool varint(std::uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_.empty()) return false;
            auto b = static_cast<std::uint8_t>(p_.front());
            p_.remove_prefix(1);
            v |= std::uint64_t{b & 0x7fu} << shift;
            if (!(b & 0x80)) return true;
        }
        return false;
    }
    // The next field: number, wire type, and (length-delimited) its bytes or (varint) value.
    bool field(std::uint32_t& number, std::uint32_t& type, std::string_view& bytes,
               std::uint64_t& value) {
        std::uint64_t tag = 0;
        if (!varint(tag)) return false;
        number = static_cast<std::uint32_t>(tag >> 3);
        type = static_cast<std::uint32_t>(tag & 7);
        if (type == 0) return varint(value);
        if (type == 2) {
            std::uint64_t n = 0;
            if (!varint(n) || n > p_.size()) return false;
            bytes = p_.substr(0, n);
            p_.remove_prefix(n);
            return true;
        }
        if (type == 1 || type == 5) {
            std::size_t n = type == 1 ? 8 : 4;
            if (p_.size() < n) return false;
            p_.remove_prefix(n);
            return true;
        }
        return false;
    }

  private:
    std::string_view p_;
};

// A Peer's node_id (field 1).
bool peer_id(std::string_view peer, std::string_view& id) {
    Reader r(peer);
    std::uint32_t number = 0, type = 0;
    std::string_view bytes;
    std::uint64_t value = 0;
    while (!r.done()) {
        if (!r.field(number, type, bytes, value)) return false;
        if (number == 1 && type == 2) {
            id = bytes;
            return true;
        }
    }
    return false;
}

bool scan_map(std::string_view body, bool full, ScannedResponse& out) {
    Reader r(body);
    std::uint32_t number = 0, type = 0;
    std::string_view bytes;
    std::uint64_t value = 0;
    const std::uint32_t self_field = full ? 2 : 5;
    while (!r.done()) {
        if (!r.field(number, type, bytes, value)) return false;
        std::string_view id;
        if (full && number == 1 && type == 0) out.version = value;
        if (full && number == 5 && type == 0) out.continued = value != 0;
        if (!full && number == 1 && type == 0) out.from_version = value;
        if (!full && number == 2 && type == 0) out.version = value;
        if (number == self_field && type == 2) {
            if (!peer_id(bytes, id)) return false;
            out.self_id = std::string(id);
        }
        if (number == 3 && type == 2) {
            if (!peer_id(bytes, id)) return false;
            out.peers.push_back(id);
        }
        if (!full && number == 4 && type == 2) out.removed.push_back(bytes);
    }
    return true;
}

}  // namespace

bool scan_response(std::string_view bytes, ScannedResponse& out) {
    out = ScannedResponse{};
    Reader r(bytes);
    std::uint32_t number = 0, type = 0;
    std::string_view body;
    std::uint64_t value = 0;
    if (!r.field(number, type, body, value) || type != 2) return false;
    switch (number) {
        case 1:
            out.kind = ScannedResponse::Kind::full;
            return scan_map(body, true, out);
        case 2:
            out.kind = ScannedResponse::Kind::delta;
            return scan_map(body, false, out);
        case 3: {
            out.kind = ScannedResponse::Kind::ready;
            Reader ready(body);
            while (!ready.done()) {
                std::string_view id;
                if (!ready.field(number, type, id, value) || type != 2) return false;
                (number == 1 ? out.initiate : out.respond).push_back(id);
            }
            return true;
        }
        case 4: {
            out.kind = ScannedResponse::Kind::challenge;
            Reader c(body);
            std::string_view nonce;
            if (!c.field(number, type, nonce, value) || number != 1) return false;
            out.nonce = std::string(nonce);
            return true;
        }
        default:
            return false;
    }
}

std::string encode_hello(const std::string& node_id, const std::string& signature,
                         std::uint64_t last_applied) {
    std::string hello;
    coord::wire::put_bytes(hello, 1, node_id);
    coord::wire::put_bytes(hello, 3, signature);
    coord::wire::put_uint(hello, 4, last_applied);
    std::string out;
    coord::wire::put_bytes(out, 1, hello);
    return out;
}

std::string encode_ack(std::uint64_t version) {
    std::string ack;
    coord::wire::put_uint(ack, 1, version);
    std::string out;
    coord::wire::put_bytes(out, 2, ack);
    return out;
}

std::string encode_endpoints(const std::vector<std::string>& endpoints) {
    std::string report;
    for (const auto& e : endpoints) coord::wire::put_bytes(report, 1, e);
    std::string out;
    coord::wire::put_bytes(out, 3, report);
    return out;
}

}  // namespace mesh::load
