#pragma once
// TURN over TCP or TLS (RFC 8656 section 12.5): STUN messages and ChannelData frames (padded to
// 4 bytes) back to back on one byte stream. The reader takes the bytes as they arrive, in any
// pieces, and hands out whole frames. Pure.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace mesh::kb::turn {

class StreamReader {
  public:
    // Bytes as the stream gave them.
    void append(std::span<const std::uint8_t> bytes);
    // The next whole frame (with its padding), or nullopt until more bytes come. Once the
    // stream is out of step (a first byte neither STUN's nor ChannelData's), nothing more.
    std::optional<std::vector<std::uint8_t>> next();
    bool out_of_step() const { return out_of_step_; }
    std::size_t buffered() const { return buffer_.size() - start_; }

  private:
    std::vector<std::uint8_t> buffer_;
    std::size_t start_ = 0;  // where the next frame begins (consumed bytes are dropped lazily)
    bool out_of_step_ = false;
};

}  // namespace mesh::kb::turn
