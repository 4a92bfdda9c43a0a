#pragma once
// The host's two key pairs, made with libsodium and kept in the state directory (0600):
// the WireGuard X25519 key (what `wg genkey | wg pubkey` would give) and the Ed25519 machine key
// that proves the node's identity to the coordinator. Private keys never leave the host.
#include <array>
#include <optional>
#include <string>

#include "kmod-bridge/key.hpp"

namespace mesh::agent {

using kb::Key;

struct Keys {
    Key wireguard_private;
    Key wireguard_public;
    std::array<std::uint8_t, 64> machine_secret{};  // libsodium's seed||public form
    Key machine_public;

    static Keys generate();
    // Loads both keys from dir, or nullopt when neither file exists. `published`: a state
    // naming this host's node exists (keys are saved before it); without one, half a pair is a
    // save interrupted by a crash, never used, and also gives nullopt. Throws mesh::Error when a
    // file is unreadable, malformed or not 0600, or half a published pair is missing.
    static std::optional<Keys> load(const std::string& dir, bool published = true);
    // Writes both keys atomically and durably with mode 0600, each file only when it changed
    // (the directory is created 0700).
    void save(const std::string& dir) const;
    // Deletes both key files from dir (meshctl logout: the node they proved is gone; the next
    // join makes fresh ones). Throws mesh::Error when one cannot be deleted; missing is fine.
    static void remove(const std::string& dir);

    std::string sign(const std::string& message) const;  // Ed25519 detached signature
};

// The X25519 public key of a WireGuard private key (clamped as WireGuard does).
Key wireguard_public_key(const Key& private_key);

}  // namespace mesh::agent
