#include "agent/join_client.hpp"

#include "agent/convert.hpp"
#include "mesh/v1/coordinator.grpc.pb.h"
#include "sync_proof.hpp"

namespace mesh::agent {

namespace {

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

}  // namespace

JoinResult join_coordinator(const CoordinatorList& coordinators, const std::string& token,
                            const std::string& hostname, const Keys& keys,
                            const std::vector<std::string>& endpoints,
                            const std::string& container_subnet, const JoinRetry& retry) {
    v1::JoinResponse response;
    const std::size_t replica = call_replicas(
        coordinators,
        [&](v1::Coordinator::Stub& stub, const CoordinatorEntry& entry,
            grpc::ClientContext& context) {
            auto request =
                join_request(entry.fingerprint, token, hostname, keys, endpoints, container_subnet);
            return stub.Join(&context, request, &response);
        },
        "join", "admit this host", retry);
    auto result = from_response(response);
    result.replica = replica;
    return result;
}

}  // namespace mesh::agent
