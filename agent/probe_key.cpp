#include "agent/probe_key.hpp"

#include <sodium.h>

#include <string_view>

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

kb::stun::IntegrityKey probe_key(const kb::Key& own_private, const kb::Key& peer_public) {
    unsigned char shared[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(shared, own_private.bytes.data(), peer_public.bytes.data()) != 0) {
        throw Error("the peer's WireGuard key is a low-order point: no probe key");
    }
    constexpr std::string_view context = "mesh path probe v1";
    kb::stun::IntegrityKey key;
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, key.size());
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(context.data()),
                              context.size());
    crypto_generichash_update(&state, shared, sizeof shared);
    crypto_generichash_final(&state, key.data(), key.size());
    sodium_memzero(shared, sizeof shared);
    return key;
}

}  // namespace mesh::agent
