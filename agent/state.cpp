#include "agent/state.hpp"

#include <algorithm>
#include <filesystem>

#include "agent/convert.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"
#include "tls_pin.hpp"

namespace mesh::agent {

namespace {

const char* const kStateFile = "state.pb";

std::string pin_from(const std::string& text) {
    return text.empty() ? std::string() : tls::parse_fingerprint(text);
}

// The replica list; from a file written before lists, its one coordinator.
CoordinatorList coordinators_from(const v1::AgentState& stored) {
    CoordinatorList out;
    if (stored.coordinators_size() > static_cast<int>(kMaxCoordinators)) {
        throw Error("more than " + std::to_string(kMaxCoordinators) + " coordinators");
    }
    for (const auto& c : stored.coordinators()) {
        out.push_back({c.address(), pin_from(c.fingerprint())});
    }
    if (out.empty() && (!stored.coordinator().empty() || !stored.fingerprint().empty())) {
        out.push_back({stored.coordinator(), pin_from(stored.fingerprint())});
    }
    return out;
}

}  // namespace

std::optional<AgentState> load_state(const std::string& dir) {
    const std::string path = dir + "/" + kStateFile;
    if (!std::filesystem::exists(path)) return std::nullopt;
    return parse_state(kb::read_file(path), path);
}

AgentState parse_state(const std::string& bytes, const std::string& origin) {
    v1::AgentState stored;
    if (!stored.ParseFromString(bytes)) {
        throw Error(origin + " is corrupt; remove it and join again");
    }
    AgentState s;
    try {
        s.coordinators = coordinators_from(stored);
        s.node_id = stored.node_id();
        s.hostname = stored.hostname();
        for (const auto& a : stored.addresses()) s.addresses.push_back(IpPrefix::parse(a, true));
        for (const auto& c : stored.container_subnets()) {
            s.container_subnets.push_back(IpPrefix::parse(c).masked());
        }
        s.network = from_proto(stored.network());
        if (stored.has_netmap() && stored.netmap().has_self()) {
            auto update = from_proto(stored.netmap());
            apply_update(s.netmap, update, s.node_id);
            std::vector<std::string> initiate(stored.initiate().begin(), stored.initiate().end());
            std::vector<std::string> respond;
            for (const auto& id : stored.ready()) {
                if (std::find(initiate.begin(), initiate.end(), id) == initiate.end()) {
                    respond.push_back(id);
                }
            }
            mark_ready(s.netmap, initiate, respond);
        }
        s.removed = stored.removed();
        s.down = stored.down();
    } catch (const Error& e) {
        throw Error(origin + " is corrupt (" + e.what() + "); remove it and join again");
    }
    return s;
}

std::string serialize_state(const AgentState& s) {
    v1::AgentState stored;
    for (const auto& c : s.coordinators) {
        auto* out = stored.add_coordinators();
        out->set_address(c.address);
        out->set_fingerprint(c.fingerprint);
    }
    // The first replica in the fields an older agent reads (a downgrade keeps one coordinator).
    if (!s.coordinators.empty()) {
        stored.set_coordinator(s.coordinators.front().address);
        stored.set_fingerprint(s.coordinators.front().fingerprint);
    }
    stored.set_node_id(s.node_id);
    stored.set_hostname(s.hostname);
    for (const auto& a : s.addresses) stored.add_addresses(a.to_string());
    for (const auto& c : s.container_subnets) stored.add_container_subnets(c.to_string());
    *stored.mutable_network() = to_proto(s.network);
    if (s.netmap.self) *stored.mutable_netmap() = to_proto(s.netmap);
    for (const auto& id : s.netmap.ready) stored.add_ready(id);
    for (const auto& id : s.netmap.initiate) stored.add_initiate(id);
    stored.set_removed(s.removed);
    stored.set_down(s.down);
    return stored.SerializeAsString();
}

bool keys_reusable_for(const std::optional<AgentState>& state, const CoordinatorList& join) {
    return state && shares_fingerprint(state->coordinators, join);
}

void save_state(const std::string& dir, const AgentState& s) {
    kb::ensure_private_dir(dir);
    kb::write_file_atomic(dir + "/" + kStateFile, serialize_state(s), 0600);
}

void remove_state(const std::string& dir) {
    const std::string path = dir + "/" + kStateFile;
    std::error_code error;
    std::filesystem::remove(path, error);
    if (error) throw Error("cannot delete " + path + ": " + error.message());
}

}  // namespace mesh::agent
