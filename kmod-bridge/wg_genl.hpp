#pragma once
// The kernel's `wireguard` generic-netlink family, as pure functions over byte buffers (no
// socket), so the encoding is unit-tested and the parsing fuzzed without the module.
//
// SET_DEVICE: an update is split into as many messages as needed, each at most max_size bytes,
// like wireguard-tools does: device fields and REPLACE_PEERS only in the first message; a peer
// whose allowed IPs do not fit continues in the next message, where its fragment carries only its
// key, UPDATE_ONLY and the remaining allowed IPs (REPLACE_ALLOWEDIPS only in its first fragment).
// GET_DEVICE: a dump of several messages; a peer split across two messages is coalesced.
#include <linux/netlink.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kmod-bridge/device.hpp"

namespace mesh::kb {

inline constexpr std::size_t kGenlMessageSize = 4096;  // what wg(8) uses on 4 KiB pages

// The SET_DEVICE requests for update, with consecutive sequence numbers from first_seq; each has
// NLM_F_REQUEST | NLM_F_ACK. An empty update gives no messages.
std::vector<std::vector<std::uint8_t>> encode_set_device(const DeviceUpdate& update,
                                                         const std::string& interface,
                                                         std::uint16_t family,
                                                         std::uint32_t first_seq,
                                                         std::size_t max_size = kGenlMessageSize);

// The GET_DEVICE dump request (NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP).
std::vector<std::uint8_t> encode_get_device(const std::string& interface, std::uint16_t family,
                                            std::uint32_t seq);

// The nlctrl CTRL_CMD_GETFAMILY request for "wireguard", and the family id in its reply.
std::vector<std::uint8_t> encode_get_family(std::uint32_t seq);
std::uint16_t parse_family_id(const nlmsghdr& reply);  // throws mesh::Error when absent

// Accumulates the messages of one GET_DEVICE dump into a DeviceState.
class GetDeviceParser {
  public:
    // One data message of the dump (already checked for type and bounds by the walker).
    // Throws mesh::Error on malformed attributes.
    void add(const nlmsghdr& message);
    const DeviceState& state() const { return state_; }
    bool interrupted() const { return interrupted_; }  // NLM_F_DUMP_INTR seen: retry the dump

  private:
    DeviceState state_;
    bool interrupted_ = false;
};

}  // namespace mesh::kb
