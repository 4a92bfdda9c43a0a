#include "kmod-bridge/turn_stream.hpp"

#include "kmod-bridge/turn_codec.hpp"

namespace mesh::kb::turn {

void StreamReader::append(std::span<const std::uint8_t> bytes) {
    if (out_of_step_) return;
    // Drop what was consumed once it is most of the buffer: amortised, no copy per frame.
    if (start_ > 0 && start_ >= buffer_.size() / 2) {
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
        start_ = 0;
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

std::optional<std::vector<std::uint8_t>> StreamReader::next() {
    if (out_of_step_) return std::nullopt;
    const std::span<const std::uint8_t> rest(buffer_.data() + start_, buffer_.size() - start_);
    const auto size = stream_frame_size(rest);
    if (!size) return std::nullopt;
    if (*size == 0) {
        out_of_step_ = true;
        buffer_.clear();
        start_ = 0;
        return std::nullopt;
    }
    if (rest.size() < *size) return std::nullopt;
    std::vector<std::uint8_t> frame(rest.begin(),
                                    rest.begin() + static_cast<std::ptrdiff_t>(*size));
    start_ += *size;
    return frame;
}

}  // namespace mesh::kb::turn
