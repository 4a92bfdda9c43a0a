#pragma once
// The reconcile: a pure function from (desired, current) to the smallest DeviceUpdate that makes
// the device equal to the desired state. Unchanged peers do not appear in the update at all, so
// their sessions, handshakes and counters are never disturbed; a changed peer gets update_only
// with just the fields that differ. An empty update means "nothing to do".
#include "kmod-bridge/device.hpp"

namespace mesh::kb {

DeviceUpdate reconcile(const DeviceConfig& desired, const DeviceState& current);

// The same, for only the peers whose keys are listed (the ones a map delta touched), so the cost
// follows the size of the change rather than the size of the device. Device fields (key, port)
// are compared as in the full form. A listed key that is absent from desired is removed if the
// device has it.
DeviceUpdate reconcile_peers(const DeviceConfig& desired, const DeviceState& current,
                             const std::vector<Key>& touched);

}  // namespace mesh::kb
