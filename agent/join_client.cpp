#include "agent/join_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "agent/backoff.hpp"
#include "agent/convert.hpp"
#include "agent/coordinator_channel.hpp"
#include "agent/coordinator_rotation.hpp"
#include "kmod-bridge/untrusted_text.hpp"
#include "mesh/v1/coordinator.grpc.pb.h"
#include "sync_proof.hpp"

namespace mesh::agent {

namespace {

bool transient(grpc::StatusCode code) {
    return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

JoinResult from_response(const v1::JoinResponse& response) {
    JoinResult r;
    r.node_id = response.node_id();
    r.hostname = response.hostname();
    try {
        for (const auto& a : response.addresses()) r.addresses.push_back(IpPrefix::parse(a, true));
        r.network = from_proto(response.network());
        if (response.container_subnets_size() > 4) throw Error("more than 4 container subnets");
        for (const auto& c : response.container_subnets()) {
            r.container_subnets.push_back(IpPrefix::parse(c).masked());
        }
    } catch (const Error& e) {
        throw JoinFailure(grpc::StatusCode::INTERNAL,
                          std::string("the coordinator's answer is malformed: ") + e.what());
    }
    r.tags.assign(response.tags().begin(), response.tags().end());
    r.key_expires_at = response.key_expires_at();
    if (r.node_id.empty() || r.addresses.empty()) {
        throw JoinFailure(grpc::StatusCode::INTERNAL, "the coordinator's answer has no node id");
    }
    return r;
}

// One replica as the join sees it: its channel (kept across passes, as gRPC reconnects it), what
// its TLS handshakes saw, and its last error.
struct Replica {
    explicit Replica(const CoordinatorEntry& e) : entry(&e) {}
    const CoordinatorEntry* entry;
    std::shared_ptr<tls::PinObservation> observed = std::make_shared<tls::PinObservation>();
    std::unique_ptr<v1::Coordinator::Stub> stub;
    std::string error;
    bool pin_refused = false;  // presented another certificate: not asked again
};

v1::JoinRequest join_request(const std::string& fingerprint, const std::string& token,
                             const std::string& hostname, const Keys& keys,
                             const std::vector<std::string>& endpoints,
                             const std::string& container_subnet) {
    v1::JoinRequest request;
    request.set_token(token);
    request.set_wireguard_public_key(keys.wireguard_public.bytes.data(), 32);
    request.set_machine_public_key(keys.machine_public.bytes.data(), 32);
    request.set_hostname(hostname);
    request.set_container_subnet(container_subnet);
    // Names the replica it is sent to: a signature made for one verifies at no other.
    request.set_machine_signature(keys.sign(v1::join_proof_message(
        fingerprint, token,
        std::string(reinterpret_cast<const char*>(keys.wireguard_public.bytes.data()), 32))));
    for (const auto& e : endpoints) request.add_endpoints(e);
    return request;
}

bool pin_mismatch(Replica& r) {
    std::lock_guard lock(r.observed->mutex);
    if (!r.observed->mismatch) return false;
    r.error = tls::mismatch_message(r.entry->fingerprint, r.observed->presented);
    return true;
}

// The refusal once no replica is left or the attempts ran out: a single coordinator's message is
// the one it always was; a list names each replica's last error.
JoinFailure exhausted(const std::vector<Replica>& replicas, int attempts, double seconds) {
    const bool all_pins = std::all_of(replicas.begin(), replicas.end(),
                                      [](const Replica& r) { return r.pin_refused; });
    // Coordinators that answered UNAVAILABLE because their store (etcd) has no quorum: reachable,
    // so the address hint would mislead; their one message is said once.
    const auto store_down = [](const Replica& r) {
        return r.error.find("the coordinators' store") != std::string::npos;
    };
    if (std::all_of(replicas.begin(), replicas.end(), store_down)) {
        return {grpc::StatusCode::UNAVAILABLE,
                "the coordinator" + std::string(replicas.size() > 1 ? "s" : "") +
                    " answered but could not admit this host after " + std::to_string(attempts) +
                    " attempts in " + std::to_string(static_cast<int>(seconds + 0.5)) +
                    " s: " + replicas.front().error};
    }
    if (replicas.size() == 1) {
        const auto& r = replicas.front();
        if (r.pin_refused) return {grpc::StatusCode::UNAUTHENTICATED, r.error};
        return {grpc::StatusCode::UNAVAILABLE,
                "cannot reach the coordinator at " + r.entry->address + " after " +
                    std::to_string(attempts) + " attempts in " +
                    std::to_string(static_cast<int>(seconds + 0.5)) + " s (" + r.error +
                    "); check the address and that mesh-coordinator is running"};
    }
    std::string each;
    for (const auto& r : replicas) {
        each += (each.empty() ? "" : "; ") + r.entry->address + ": " +
                (r.error.empty() ? "not tried" : r.error);
    }
    if (all_pins) {
        return {grpc::StatusCode::UNAUTHENTICATED,
                "no coordinator presented the pinned certificate (" + each + ")"};
    }
    return {grpc::StatusCode::UNAVAILABLE,
            "cannot reach any of the " + std::to_string(replicas.size()) + " coordinators after " +
                std::to_string(attempts) + " attempts in " +
                std::to_string(static_cast<int>(seconds + 0.5)) + " s (" + each +
                "); check the addresses and that mesh-coordinator is running on them"};
}

}  // namespace

JoinResult join_coordinator(const CoordinatorList& coordinators, const std::string& token,
                            const std::string& hostname, const Keys& keys,
                            const std::vector<std::string>& endpoints,
                            const std::string& container_subnet, const JoinRetry& retry) {
    if (coordinators.empty()) {
        throw JoinFailure(grpc::StatusCode::INVALID_ARGUMENT, "no coordinator to join through");
    }
    std::vector<Replica> replicas;
    for (const auto& c : coordinators) replicas.emplace_back(c);
    // Within a pass the next replica is asked at once; a failed pass waits 500 ms doubling to
    // 4 s, jittered: the retries a single coordinator always had.
    FailoverTiming timing{std::chrono::milliseconds(0), std::chrono::milliseconds(0),
                          std::chrono::milliseconds(500), std::chrono::seconds(4)};
    auto random = system_random();
    CoordinatorRotation rotation(replica_order(replicas.size(), std::nullopt, random), timing,
                                 random);
    const int attempts = retry.attempts * static_cast<int>(replicas.size());
    auto started = std::chrono::steady_clock::now();
    int made = 0;
    while (made < attempts &&
           std::chrono::steady_clock::now() - started + retry.attempt_timeout <= retry.total) {
        const std::size_t index = rotation.current();
        Replica& r = replicas[index];
        if (!r.pin_refused) {
            ++made;
            if (!r.stub) {
                r.stub = v1::Coordinator::NewStub(
                    coordinator_channel(r.entry->address, r.entry->fingerprint, r.observed));
            }
            auto request = join_request(r.entry->fingerprint, token, hostname, keys, endpoints,
                                        container_subnet);
            grpc::ClientContext context;
            context.set_deadline(std::chrono::system_clock::now() + retry.attempt_timeout);
            // Ride out a connection still being set up, except in the first pass over several
            // replicas: there a replica that refuses the connection costs that refusal, not the
            // attempt's whole timeout, since another may answer at once.
            context.set_wait_for_ready(replicas.size() == 1 ||
                                       made > static_cast<int>(replicas.size()));
            v1::JoinResponse response;
            grpc::Status status = r.stub->Join(&context, request, &response);
            if (status.ok()) {
                auto result = from_response(response);
                result.replica = index;
                return result;
            }
            if (pin_mismatch(r)) {
                r.pin_refused = true;
                spdlog::warn("event=join_pin_refused coordinator={} error={}", r.entry->address,
                             kb::log_quote(r.error));
                if (std::all_of(replicas.begin(), replicas.end(),
                                [](const Replica& x) { return x.pin_refused; })) {
                    break;
                }
            } else if (!transient(status.error_code())) {
                throw JoinFailure(status.error_code(), status.error_message());
            } else {
                r.error = status.error_message();
                spdlog::warn("event=join_retry coordinator={} attempt={} error={}",
                             r.entry->address, made, kb::log_quote(r.error));
            }
        }
        if (made >= attempts) break;
        auto step = rotation.failed(false);
        if (step.delay.count() > 0) std::this_thread::sleep_for(step.delay);
    }
    auto seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    throw exhausted(replicas, made, seconds);
}

}  // namespace mesh::agent
