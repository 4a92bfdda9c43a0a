#pragma once
// The reconcile: a pure function from (desired, current) to the smallest DeviceUpdate that makes
// the device equal to the desired state. Unchanged peers do not appear in the update at all, so
// their sessions, handshakes and counters are never disturbed; a changed peer gets update_only
// with just the fields that differ. An empty update means "nothing to do".
#include "kmod-bridge/device.hpp"

namespace mesh::kb {

DeviceUpdate reconcile(const DeviceConfig& desired, const DeviceState& current);

}  // namespace mesh::kb
