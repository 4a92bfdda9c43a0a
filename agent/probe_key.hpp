#pragma once
// The key that authenticates path probes between two peers (STUN MESSAGE-INTEGRITY-SHA256): a
// hash of the X25519 shared secret of their WireGuard keys, so only the two of them can make or
// check a probe, and the coordinator never learns it.
#include "kmod-bridge/key.hpp"
#include "kmod-bridge/stun.hpp"

namespace mesh::agent {

// Equal for (a.private, b.public) and (b.private, a.public). Throws mesh::Error for a low-order
// public key (no shared secret).
kb::stun::IntegrityKey probe_key(const kb::Key& own_private, const kb::Key& peer_public);

}  // namespace mesh::agent
