#pragma once
// Messages as the fan-out writes them: protobuf wire bytes assembled from shared, pre-encoded
// parts (each node's Peer record is encoded once per change; a delta or a full map is a few
// headers around those bytes), and the protobuf wire primitives that assemble them.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::coord {

// A range of a buffer shared between messages.
struct Slice {
    std::shared_ptr<const std::string> data;
    std::size_t offset = 0;
    std::size_t size = 0;
};

// One serialized mesh.v1.SyncResponse, as the concatenation of its slices.
struct WireMessage {
    std::vector<Slice> slices;

    void append(std::shared_ptr<const std::string> data);  // the whole buffer
    void append(std::shared_ptr<const std::string> data, std::size_t offset, std::size_t size);
    void append(std::string bytes);  // a buffer of its own
    std::size_t size() const;
    std::string flatten() const;  // for tests and small messages
};

namespace wire {

enum Type : std::uint8_t { varint = 0, length_delimited = 2 };

std::size_t varint_size(std::uint64_t value);
void put_varint(std::string& out, std::uint64_t value);
void put_tag(std::string& out, std::uint32_t field, Type type);
// proto3: a zero value is not written.
void put_uint(std::string& out, std::uint32_t field, std::uint64_t value);
void put_bool(std::string& out, std::uint32_t field, bool value);
void put_bytes(std::string& out, std::uint32_t field, std::string_view bytes);
// The header of a length-delimited field whose `size` bytes of content follow.
void put_header(std::string& out, std::uint32_t field, std::size_t size);
std::size_t header_size(std::uint32_t field, std::size_t size);

}  // namespace wire

}  // namespace mesh::coord
