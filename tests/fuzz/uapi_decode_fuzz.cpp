// Feeds arbitrary bytes to the UAPI reply decoders: they may reject input only by throwing
// mesh::Error; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/uapi_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view reply(reinterpret_cast<const char*>(data), size);
    try {
        auto state = mesh::kb::decode_get(reply);
        // What decodes must encode: the set built from it is well-formed text.
        mesh::kb::DeviceUpdate update;
        update.private_key = state.private_key;
        for (const auto& p : state.peers) {
            mesh::kb::PeerUpdate u;
            u.public_key = p.config.public_key;
            u.endpoint = p.config.endpoint;
            u.allowed_ips = p.config.allowed_ips;
            update.peers.push_back(u);
        }
        auto text = mesh::kb::encode_set(update);
        if (text.size() < 7 || text.substr(text.size() - 2) != "\n\n") __builtin_trap();
    } catch (const mesh::Error&) {
    }
    try {
        mesh::kb::decode_errno(reply);
    } catch (const mesh::Error&) {
    }
    return 0;
}
