// The coordinator's Sync messages as the agent decodes and applies them. The input is a
// sequence of frames, each a 2-byte little-endian length and that many bytes (the last frame
// takes what is left); each frame is parsed as a mesh.v1.SyncResponse and goes the agent's way
// (SyncClient::handle, Agent::on_map / on_ready): from_proto -> apply_update / mark_ready on
// one NetMap -> desired_config -> reconcile against the device as the previous step left it ->
// the UAPI set request. A full map's NetworkSettings goes through from_proto too (the agent
// decodes the same message in the Join response).
//
// Only the conversions may refuse input, and only by throwing mesh::Error; after that nothing
// may throw at all. Properties checked after every message:
//   - the desired device keeps only host routes inside the overlay that are not our own
//     addresses (the agent distrusts control, see agent/desired_config.hpp);
//   - our own key is never a peer of the device;
//   - a device that has the desired config needs no change (reconcile is idempotent);
//   - the UAPI request for the change is well-formed.
// The generated protobuf code is not instrumented; our sources are.
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "agent/convert.hpp"
#include "agent/desired_config.hpp"
#include "agent/netmap.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/reconcile.hpp"
#include "kmod-bridge/uapi_codec.hpp"
#include "mesh/v1/coordinator.pb.h"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::agent;
namespace kb = mesh::kb;

namespace {

constexpr int kMaxFrames = 32;
const std::string kSelfId = "n-0000000000000001";  // the node id the seeds use for "self"

kb::DeviceState device_with(const kb::DeviceConfig& config) {
    kb::DeviceState s;
    s.private_key = config.private_key;
    s.listen_port = config.listen_port.value_or(0);
    for (const auto& p : config.peers) {
        kb::PeerState ps;
        ps.config = p;
        s.peers.push_back(ps);
    }
    return s;
}

void check_desired(const kb::DeviceConfig& config, const NetMap& map,
                   const NetworkSettings& network) {
    for (const auto& p : config.peers) {
        if (map.self) FUZZ_CHECK(p.public_key != map.self->public_key);
        for (const auto& ip : p.allowed_ips) {
            FUZZ_CHECK(ip.length == ip.address.max_prefix());
            FUZZ_CHECK(network.ipv4_prefix.contains(ip.address) ||
                       network.ipv6_prefix.contains(ip.address));
            if (map.self) {
                const auto& own = map.self->allowed_ips;
                FUZZ_CHECK(std::find(own.begin(), own.end(), ip) == own.end());
            }
        }
    }
}

// What the agent does with one message; false when it would drop the stream for good.
bool handle(const mesh::v1::SyncResponse& message, NetMap& map, NetworkSettings& network) {
    if (message.has_ready()) {
        const auto& r = message.ready();
        mark_ready(map, {r.initiate().begin(), r.initiate().end()},
                   {r.respond().begin(), r.respond().end()});
        for (const auto& id : map.initiate) FUZZ_CHECK(map.ready.contains(id));
        for (const auto& id : map.ready) FUZZ_CHECK(map.peers.contains(id));
        return true;
    }
    MapUpdate update;
    try {
        if (message.has_full()) {
            update = from_proto(message.full());
            if (message.full().has_network()) network = from_proto(message.full().network());
        } else if (message.has_delta()) {
            update = from_proto(message.delta());
        } else {
            return true;
        }
    } catch (const mesh::Error&) {
        return true;  // malformed: the agent resyncs, its map unchanged
    }
    auto before = map.version;
    auto result = apply_update(map, update, kSelfId);
    if (result == ApplyResult::self_removed) return false;
    if (result == ApplyResult::gap) {
        FUZZ_CHECK(!update.full && map.version == before);
        return true;
    }
    FUZZ_CHECK(map.version == update.version);
    FUZZ_CHECK(!map.peers.contains(kSelfId));
    for (const auto& id : map.ready) FUZZ_CHECK(map.peers.contains(id));
    return true;
}

}  // namespace

// Quiet protobuf's "invalid UTF-8" complaints: a refused parse is an expected outcome here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    NetMap map;
    NetworkSettings network;
    DeviceIdentity identity;
    identity.private_key.bytes.fill(7);
    kb::DeviceState device;  // what the device has: the config of the previous step
    for (int frame = 0; frame < kMaxFrames && size > 0; ++frame) {
        std::size_t length = size;
        if (size >= 2) {
            length = std::min<std::size_t>(size - 2, data[0] | data[1] << 8);
            data += 2;
            size -= 2;
        }
        mesh::v1::SyncResponse message;
        bool parsed = message.ParseFromArray(data, static_cast<int>(length));
        data += length;
        size -= length;
        if (!parsed) continue;
        if (!handle(message, map, network)) break;

        // The peers whose handshake completed: every other one, so both keepalive rules run.
        std::set<Key> established;
        bool odd = false;
        for (const auto& [id, peer] : map.peers) {
            if ((odd = !odd)) established.insert(peer.public_key);
        }
        auto desired = desired_config(map, network, identity, established);
        check_desired(desired, map, network);
        auto update = kb::reconcile(desired, device);
        auto request = kb::encode_set(update);
        FUZZ_CHECK(request.starts_with("set=1\n") && request.ends_with("\n\n"));
        device = device_with(desired);
        FUZZ_CHECK(kb::reconcile(desired, device).empty());
    }
    return 0;
}
