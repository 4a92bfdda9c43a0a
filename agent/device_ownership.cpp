#include "agent/device_ownership.hpp"

namespace mesh::agent {

std::string owner_alias(const kb::Key& machine_public) {
    return "mesh-agent " + machine_public.to_base64();
}

DeviceClaim claim_device(const std::string& alias, const kb::DeviceState& state,
                         const DeviceOwner& owner) {
    if (!alias.empty() && alias == owner.alias) return DeviceClaim::ours;
    if (state.private_key && *state.private_key == owner.private_key) return DeviceClaim::ours;
    if (alias.empty() && !state.private_key && state.peers.empty()) return DeviceClaim::unclaimed;
    return DeviceClaim::foreign;
}

}  // namespace mesh::agent
