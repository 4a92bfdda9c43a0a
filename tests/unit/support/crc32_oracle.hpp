#pragma once
// zlib's CRC-32, bit by bit: an oracle independent of stun.cpp's table, for the STUN unit tests
// and fuzzer to compute and recompute FINGERPRINTs with.
#include <cstddef>
#include <cstdint>

namespace mesh::test {

inline std::uint32_t crc32(const std::uint8_t* data, std::size_t size) {
    std::uint32_t c = 0xFFFFFFFF;
    for (std::size_t i = 0; i < size; ++i) {
        c ^= data[i];
        for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (0xEDB88320 & (0u - (c & 1)));
    }
    return ~c;
}

}  // namespace mesh::test
