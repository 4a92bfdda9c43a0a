#include "coordinator/fanout/wire.hpp"

namespace mesh::coord {

void WireMessage::append(std::shared_ptr<const std::string> data) {
    std::size_t n = data->size();
    append(std::move(data), 0, n);
}

void WireMessage::append(std::shared_ptr<const std::string> data, std::size_t offset,
                         std::size_t size) {
    if (size == 0) return;
    slices.push_back({std::move(data), offset, size});
}

void WireMessage::append(std::string bytes) {
    append(std::make_shared<const std::string>(std::move(bytes)));
}

std::size_t WireMessage::size() const {
    std::size_t n = 0;
    for (const auto& s : slices) n += s.size;
    return n;
}

std::string WireMessage::flatten() const {
    std::string out;
    out.reserve(size());
    for (const auto& s : slices) out.append(*s.data, s.offset, s.size);
    return out;
}

namespace wire {

std::size_t varint_size(std::uint64_t value) {
    std::size_t n = 1;
    while (value >= 0x80) {
        value >>= 7;
        ++n;
    }
    return n;
}

void put_varint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void put_tag(std::string& out, std::uint32_t field, Type type) {
    put_varint(out, (std::uint64_t{field} << 3) | type);
}

void put_uint(std::string& out, std::uint32_t field, std::uint64_t value) {
    if (value == 0) return;
    put_tag(out, field, varint);
    put_varint(out, value);
}

void put_bool(std::string& out, std::uint32_t field, bool value) {
    if (value) put_uint(out, field, 1);
}

void put_header(std::string& out, std::uint32_t field, std::size_t size) {
    put_tag(out, field, length_delimited);
    put_varint(out, size);
}

std::size_t header_size(std::uint32_t field, std::size_t size) {
    return varint_size(std::uint64_t{field} << 3) + varint_size(size);
}

void put_bytes(std::string& out, std::uint32_t field, std::string_view bytes) {
    put_header(out, field, bytes.size());
    out.append(bytes);
}

}  // namespace wire

}  // namespace mesh::coord
