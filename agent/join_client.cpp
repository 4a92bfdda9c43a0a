#include "agent/join_client.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "agent/backoff.hpp"
#include "agent/convert.hpp"
#include "agent/coordinator_channel.hpp"
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

}  // namespace

JoinResult join_coordinator(const std::string& coordinator, const std::string& fingerprint,
                            const std::string& token, const std::string& hostname, const Keys& keys,
                            const std::vector<std::string>& endpoints,
                            const std::string& container_subnet, const JoinRetry& retry) {
    auto observed = std::make_shared<tls::PinObservation>();
    auto stub = v1::Coordinator::NewStub(coordinator_channel(coordinator, fingerprint, observed));
    auto pin_refused = [&] {
        std::lock_guard lock(observed->mutex);
        if (!observed->mismatch) return;
        throw JoinFailure(grpc::StatusCode::UNAUTHENTICATED,
                          tls::mismatch_message(fingerprint, observed->presented));
    };
    v1::JoinRequest request;
    request.set_token(token);
    request.set_wireguard_public_key(keys.wireguard_public.bytes.data(), 32);
    request.set_machine_public_key(keys.machine_public.bytes.data(), 32);
    request.set_hostname(hostname);
    request.set_container_subnet(container_subnet);
    request.set_machine_signature(keys.sign(v1::join_proof_message(
        fingerprint, token,
        std::string(reinterpret_cast<const char*>(keys.wireguard_public.bytes.data()), 32))));
    for (const auto& e : endpoints) request.add_endpoints(e);

    Backoff backoff(std::chrono::milliseconds(500), std::chrono::seconds(4), system_random());
    auto started = std::chrono::steady_clock::now();
    grpc::Status status;
    for (int attempt = 1; attempt <= retry.attempts; ++attempt) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + retry.attempt_timeout);
        context.set_wait_for_ready(true);  // ride out a connection still being set up
        v1::JoinResponse response;
        status = stub->Join(&context, request, &response);
        if (status.ok()) return from_response(response);
        pin_refused();
        if (!transient(status.error_code())) {
            throw JoinFailure(status.error_code(), status.error_message());
        }
        spdlog::warn("event=join_retry coordinator={} attempt={} error={}", coordinator, attempt,
                     kb::log_quote(status.error_message()));
        if (attempt < retry.attempts) std::this_thread::sleep_for(backoff.next());
    }
    auto seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    throw JoinFailure(grpc::StatusCode::UNAVAILABLE,
                      "cannot reach the coordinator at " + coordinator + " after " +
                          std::to_string(retry.attempts) + " attempts in " +
                          std::to_string(static_cast<int>(seconds + 0.5)) + " s (" +
                          status.error_message() +
                          "); check the address and that mesh-coordinator is running");
}

}  // namespace mesh::agent
