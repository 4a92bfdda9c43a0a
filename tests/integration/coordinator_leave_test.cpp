// Coordinator.Leave (meshctl logout) over real gRPC on loopback: a leave without the node's own
// machine proof is refused and removes nothing; the node's own proof removes it exactly as the
// operator's nodes remove does (its peers get the removal in a delta, its own stream is told
// in-band and ended), once.
#include <catch2/catch.hpp>

#include "rpc_harness.hpp"

using namespace rpc_harness;

namespace {

v1::LeaveRequest leave_request(const Machine& signer, const std::string& node_id,
                               const std::string& fingerprint = proof_fingerprint()) {
    v1::LeaveRequest r;
    r.set_node_id(node_id);
    r.set_signature(signer.sign(v1::leave_proof_message(fingerprint, node_id)));
    return r;
}

grpc::Status leave(Server& s, const v1::LeaveRequest& request,
                   v1::LeaveResponse* response = nullptr) {
    v1::LeaveResponse ignored;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return s.stub->Leave(&ctx, request, response ? response : &ignored);
}

}  // namespace

TEST_CASE("Leave: without the node's own machine proof it is refused and removes nothing") {
    Server s;
    const auto token = reusable_token(s);
    Machine a, b;
    const auto ja = joined(s, a, token, "a");
    const auto jb = joined(s, b, token, "b");
    const auto version = s.store.version();

    // Another node's machine key (b removing a).
    CHECK(leave(s, leave_request(b, ja.node_id())).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    // No signature at all.
    auto unsigned_leave = leave_request(a, ja.node_id());
    unsigned_leave.clear_signature();
    CHECK(leave(s, unsigned_leave).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    // a's own key, but made out for another coordinator's certificate.
    CHECK(leave(s, leave_request(a, ja.node_id(), "sha256:" + std::string(64, '0'))).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    // b's valid proof for b, presented for a.
    auto moved = leave_request(b, jb.node_id());
    moved.set_node_id(ja.node_id());
    CHECK(leave(s, moved).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    // A Sync proof is not a leave proof (another message, another purpose).
    v1::LeaveRequest sync_proof;
    sync_proof.set_node_id(ja.node_id());
    sync_proof.set_signature(a.sign(v1::sync_proof_message(proof_fingerprint(), ja.node_id(), "")));
    CHECK(leave(s, sync_proof).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    // Nodes are found by id only: a's hostname, even with a proof over it, names no node.
    CHECK(leave(s, leave_request(a, "a")).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(leave(s, leave_request(a, "n-0000000000000000")).error_code() ==
          grpc::StatusCode::NOT_FOUND);
    CHECK(leave(s, leave_request(a, "")).error_code() == grpc::StatusCode::INVALID_ARGUMENT);

    CHECK(s.list_nodes().nodes_size() == 2);
    CHECK(s.store.version() == version);  // no map change at all
}

TEST_CASE("Leave: the node's own proof removes it as nodes remove does and only once") {
    Server s;
    const auto token = reusable_token(s);
    Machine a, b;
    const auto ja = joined(s, a, token, "a");
    const auto jb = joined(s, b, token, "b");
    SyncStream sa(s, a, ja.node_id());
    SyncStream sb(s, b, jb.node_id());
    REQUIRE(sb.full.peers_size() == 1);

    v1::LeaveResponse response;
    REQUIRE(leave(s, leave_request(a, ja.node_id()), &response).ok());
    CHECK(response.node_id() == ja.node_id());

    // b's map loses a in a delta.
    v1::SyncResponse msg;
    bool b_told = false;
    while (!b_told && sb.rw->Read(&msg)) {
        if (msg.has_delta()) {
            for (const auto& id : msg.delta().removed()) b_told = b_told || id == ja.node_id();
        }
    }
    CHECK(b_told);
    // a is told in-band that it is gone, and its stream ends.
    bool a_told = false;
    while (sa.rw->Read(&msg)) {
        if (msg.has_delta()) {
            for (const auto& id : msg.delta().removed()) a_told = a_told || id == ja.node_id();
        }
    }
    CHECK(a_told);
    CHECK(sa.rw->Finish().error_code() == grpc::StatusCode::CANCELLED);

    auto nodes = s.list_nodes();
    REQUIRE(nodes.nodes_size() == 1);
    CHECK(nodes.nodes(0).node_id() == jb.node_id());
    // Once: the same request again finds no node, and a's Sync is told to join again.
    CHECK(leave(s, leave_request(a, ja.node_id())).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(sync_status(s, [&](const std::string& c) {
              return hello(a, ja.node_id(), c);
          }).error_code() == grpc::StatusCode::NOT_FOUND);
    sb.ctx.TryCancel();
}
