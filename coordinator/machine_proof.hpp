#pragma once
// Checks an Ed25519 signature by a node's machine key: how a node proves who it is, at Join and
// at the start of every Sync.
#include <string>

#include "coordinator/model.hpp"

namespace mesh::coord {

// Throws StatusError(unauthenticated) naming `what` when the signature is missing or does not
// verify over message with machine_key.
void verify_machine_signature(const Key& machine_key, const std::string& signature,
                              const std::string& message, const std::string& what);

}  // namespace mesh::coord
