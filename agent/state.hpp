#pragma once
// What the agent remembers across restarts (STATE_DIR/state.pb, 0600): who it is in the mesh
// and the last map it applied, so a restart with the coordinator down still configures the
// device ("fail static").
#include <optional>
#include <string>
#include <vector>

#include "agent/coordinator_list.hpp"
#include "agent/netmap.hpp"

namespace mesh::agent {

struct AgentState {
    // The coordinator's replicas as the join listed them, each with its pinned certificate (a
    // state from before pins has one entry with an empty fingerprint).
    CoordinatorList coordinators;
    std::string node_id;
    std::string hostname;
    std::vector<IpPrefix> addresses;  // with prefix length, host bits kept
    NetworkSettings network;
    NetMap netmap;
    bool removed = false;
    bool down = false;  // `meshctl down`: no peers, no Sync until `meshctl up`
    std::vector<IpPrefix> container_subnets;  // as the join answered
};

// nullopt when the host never joined. Throws mesh::Error for an unreadable or corrupt file.
std::optional<AgentState> load_state(const std::string& dir);
void save_state(const std::string& dir, const AgentState& state);
// Deletes the state file (meshctl logout): the host is not joined from now on. Throws mesh::Error
// when it cannot be deleted; a missing file is not an error.
void remove_state(const std::string& dir);

// Whether a join to the coordinators pinned as in `join` may reuse this host's keys: only when
// the state says the host was joined (now or before a removal) to that same mesh, i.e. the two
// lists pin at least one certificate in common (replicas come and go; a mesh whose every
// certificate is new is another mesh). A coordinator with another certificate is another mesh,
// or one that would like to pass as the first: it gets a machine and a WireGuard key it has
// never seen (security review, finding 3).
bool keys_reusable_for(const std::optional<AgentState>& state, const CoordinatorList& join);

// The pure halves of the two, for tests and the fuzzer: the file's bytes to a state (throws
// mesh::Error naming `origin`, e.g. the file's path, for anything corrupt), and back.
AgentState parse_state(const std::string& bytes, const std::string& origin);
std::string serialize_state(const AgentState& state);

}  // namespace mesh::agent
