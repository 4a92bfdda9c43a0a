#include "agent/replica_call.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "agent/backoff.hpp"
#include "agent/coordinator_channel.hpp"
#include "agent/coordinator_rotation.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::agent {

namespace {

bool transient(grpc::StatusCode code) {
    return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// One replica as the call sees it: its channel (kept across passes, as gRPC reconnects it), what
// its TLS handshakes saw, and its last error.
struct Replica {
    explicit Replica(const CoordinatorEntry& e) : entry(&e) {}
    const CoordinatorEntry* entry;
    std::shared_ptr<tls::PinObservation> observed = std::make_shared<tls::PinObservation>();
    std::unique_ptr<v1::Coordinator::Stub> stub;
    std::string error;
    bool pin_refused = false;  // presented another certificate: not asked again
};

bool pin_mismatch(Replica& r) {
    std::lock_guard lock(r.observed->mutex);
    if (!r.observed->mismatch) return false;
    r.error = tls::mismatch_message(r.entry->fingerprint, r.observed->presented);
    return true;
}

// The refusal once no replica is left or the attempts ran out: a single coordinator's message is
// the one it always was; a list names each replica's last error.
CoordinatorFailure exhausted(const std::vector<Replica>& replicas, int attempts, double seconds,
                             const std::string& purpose) {
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
                    " answered but could not " + purpose + " after " + std::to_string(attempts) +
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

std::size_t call_replicas(const CoordinatorList& coordinators, const ReplicaAttempt& attempt,
                          const std::string& name, const std::string& purpose,
                          const CallRetry& retry) {
    if (coordinators.empty()) {
        throw CoordinatorFailure(grpc::StatusCode::INVALID_ARGUMENT,
                                 "no coordinator to " + name + " through");
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
            grpc::ClientContext context;
            context.set_deadline(std::chrono::system_clock::now() + retry.attempt_timeout);
            // Ride out a connection still being set up, except in the first pass over several
            // replicas: there a replica that refuses the connection costs that refusal, not the
            // attempt's whole timeout, since another may answer at once.
            context.set_wait_for_ready(replicas.size() == 1 ||
                                       made > static_cast<int>(replicas.size()));
            grpc::Status status = attempt(*r.stub, *r.entry, context);
            if (status.ok()) return index;
            if (pin_mismatch(r)) {
                r.pin_refused = true;
                spdlog::warn("event={}_pin_refused coordinator={} error={}", name, r.entry->address,
                             kb::log_quote(r.error));
                if (std::all_of(replicas.begin(), replicas.end(),
                                [](const Replica& x) { return x.pin_refused; })) {
                    break;
                }
            } else if (!transient(status.error_code())) {
                throw CoordinatorFailure(status.error_code(), status.error_message());
            } else {
                r.error = status.error_message();
                spdlog::warn("event={}_retry coordinator={} attempt={} error={}", name,
                             r.entry->address, made, kb::log_quote(r.error));
            }
        }
        if (made >= attempts) break;
        auto step = rotation.failed(false);
        if (step.delay.count() > 0) std::this_thread::sleep_for(step.delay);
    }
    auto seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    throw exhausted(replicas, made, seconds, purpose);
}

}  // namespace mesh::agent
