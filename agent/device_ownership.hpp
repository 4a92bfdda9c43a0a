#pragma once
// Whether a WireGuard device found under the agent's interface name is the agent's to drive.
// An agent never adopts another owner's device (another agent's wireguard-go, a wg-quick wg0):
// reconciling it would remove that owner's peers. Pure: the device's state and alias come in.
#include <string>

#include "kmod-bridge/device.hpp"
#include "kmod-bridge/key.hpp"

namespace mesh::agent {

// Who the agent is towards its device: the alias it puts on the interface (`ip link` shows it)
// and the WireGuard private key it configures.
struct DeviceOwner {
    std::string alias;
    kb::Key private_key;
};

// "mesh-agent <machine public key, base64>": the machine key stays the same through WireGuard
// key rotations, so a device keeps its owner even if the agent crashed mid-rotation.
std::string owner_alias(const kb::Key& machine_public);

enum class DeviceClaim {
    ours,       // our alias, or our private key
    unclaimed,  // no alias, no private key, no peers: an empty device anyone may take
    foreign,    // anything else: refuse
};

// alias: the interface's alias ("" for none, or when the device lives in another namespace).
DeviceClaim claim_device(const std::string& alias, const kb::DeviceState& state,
                         const DeviceOwner& owner);

}  // namespace mesh::agent
