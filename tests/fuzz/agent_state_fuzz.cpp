// The agent's state file (STATE_DIR/state.pb) as load_state reads it: arbitrary bytes ->
// parse_state. A corrupt file may be refused only with mesh::Error, naming the file. What loads
// must survive the agent's own save and load: serialize_state -> parse_state gives a state that
// serializes to the same bytes (so a restart never finds a file it wrote unreadable), and the
// device config built from it keeps the agent's distrust of control.
// The generated protobuf code is not instrumented; our sources are.
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "agent/desired_config.hpp"
#include "agent/state.hpp"
#include "kmod-bridge/error.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::agent;

namespace {

const std::string kOrigin = "/var/lib/mesh-agent/state.pb";

}  // namespace

// Quiet protobuf's "invalid UTF-8" complaints: a refused parse is an expected outcome here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    AgentState state;
    try {
        state = parse_state(std::string(reinterpret_cast<const char*>(data), size), kOrigin);
    } catch (const mesh::Error& e) {
        FUZZ_CHECK(std::string(e.what()).starts_with(kOrigin + " is corrupt"));
        return 0;
    }
    for (const auto& a : state.addresses) FUZZ_CHECK(a.length <= a.address.max_prefix());
    for (const auto& id : state.netmap.initiate) FUZZ_CHECK(state.netmap.ready.contains(id));
    for (const auto& id : state.netmap.ready) FUZZ_CHECK(state.netmap.peers.contains(id));

    // Saved and loaded again, the state is the same: the bytes are a fixed point.
    const std::string saved = serialize_state(state);
    AgentState again;
    try {
        again = parse_state(saved, kOrigin);
    } catch (const mesh::Error&) {
        FUZZ_CHECK(!"the agent wrote a state file it cannot read back");
    }
    FUZZ_CHECK(serialize_state(again) == saved);
    FUZZ_CHECK(again.netmap.version == state.netmap.version);
    FUZZ_CHECK(again.netmap.ready == state.netmap.ready);
    FUZZ_CHECK(again.netmap.initiate == state.netmap.initiate);

    DeviceIdentity identity;
    identity.private_key.bytes.fill(7);
    auto config = desired_config(state.netmap, state.network, identity, {});
    for (const auto& p : config.peers) {
        for (const auto& ip : p.allowed_ips) {
            FUZZ_CHECK(ip.length == ip.address.max_prefix());
            FUZZ_CHECK(state.network.ipv4_prefix.contains(ip.address) ||
                       state.network.ipv6_prefix.contains(ip.address));
        }
    }
    return 0;
}
