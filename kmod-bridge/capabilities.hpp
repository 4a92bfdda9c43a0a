#pragma once
// This process's capabilities, for errors that say which one is missing: a root process under
// systemd's CapabilityBoundingSet (or setpriv) is uid 0 without most of root's powers, so the
// uid alone cannot tell "not allowed" from "refused for another reason".

namespace mesh::kb {

// Whether capability cap (CAP_NET_ADMIN, ... from <linux/capability.h>) is in this process's
// effective set. False when the kernel cannot be asked.
bool has_effective_capability(int cap);

}  // namespace mesh::kb
