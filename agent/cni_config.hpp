#pragma once
// The CNI network configuration (a .conflist) the agent writes for the host's container subnet
// (pure): the reference `bridge` plugin with `host-local` addresses, so a container runtime on
// the host attaches containers to a bridge whose gateway is the host and whose subnet every peer
// routes over the mesh.
#include <string>
#include <vector>

#include "kmod-bridge/ip.hpp"

namespace mesh::agent {

struct CniSettings {
    std::string network_name = "mesh0";  // the conflist's "name", also its file name
    std::string bridge = "cni-mesh0";
    unsigned mtu = 1420;        // the mesh's: a container's packet must fit in the tunnel
    std::string ipam_data_dir;  // host-local's lease directory; "" = its default
};

inline constexpr const char* kCniVersion = "1.0.0";

// The file's text (JSON, ending in a newline) for these subnets, at most one per family.
// bridge: isGateway (the host is each container's default route), ipMasq off (the agent's own
// masquerade rule leaves container-to-container traffic alone), hairpin mode on.
std::string cni_conflist(const CniSettings& settings, const std::vector<kb::IpPrefix>& subnets);

// DIR/10-NAME.conflist.
std::string cni_conflist_path(const std::string& dir, const std::string& network_name);

// Whether `text` is a conflist this agent wrote for network_name (so it may replace or delete
// it); false for anything else, malformed JSON included.
bool is_our_conflist(const std::string& text, const std::string& network_name);

}  // namespace mesh::agent
