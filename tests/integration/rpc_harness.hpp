#pragma once
// The harness of the coordinator's RPC tests: a real Coordinator + Admin server over TLS on
// loopback (in-memory store, a settable clock), machines with their own keys, and helpers for
// joins and Sync streams (challenge, hello, status).
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <functional>
#include <thread>
#include "coordinator/admin_service.hpp"
#include "coordinator/convert.hpp"
#include "coordinator/coordinator_service.hpp"
#include "coordinator/nodes_table.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/tls_identity.hpp"
#include "sync_proof.hpp"
#include "tls_pin.hpp"

namespace rpc_harness {

using namespace mesh;
using namespace mesh::coord;

struct Machine {
    unsigned char pk[32];
    unsigned char sk[64];
    std::string wg_key = std::string(32, '\0');
    Machine() {
        crypto_sign_keypair(pk, sk);
        randombytes_buf(wg_key.data(), wg_key.size());
    }
    std::string public_key() const { return std::string(reinterpret_cast<const char*>(pk), 32); }
    std::string sign(const std::string& m) const {
        std::string sig(crypto_sign_BYTES, '\0');
        crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                             reinterpret_cast<const unsigned char*>(m.data()), m.size(), sk);
        return sig;
    }
};

// The fingerprint every proof of these helpers names: the harness coordinator's, set by the
// Server made last (one per test, but for the relay tests, which sign for a coordinator by hand).
inline std::string& proof_fingerprint() {
    static std::string fingerprint;
    return fingerprint;
}

struct ServerSetup {
    std::uint32_t stun_port = 0;
    std::uint32_t node_key_ttl = 0;  // seconds; 0 = keys never expire
    std::uint32_t ephemeral_inactivity = 1800;
    std::string database = ":memory:";
    std::vector<ContainerPool> container_pools{};
    RelayConfig relays{};
    ServiceLimits limits = [] {
        ServiceLimits l;
        l.endpoint_interval = std::chrono::milliseconds(0);  // reports reach the map at once
        return l;
    }();
};

struct Server {
    ServerSetup setup;
    SqliteStore store{setup.database};
    NetworkConfig network;
    // Read by the server's threads: gRPC's own synchronization is invisible to TSan (not
    // instrumented), so the test's clock is atomic rather than relying on it.
    std::atomic<std::int64_t> now{std::time(nullptr)};
    std::atomic<Fanout*> announce{nullptr};
    Registry registry{store, network, [this] { return now.load(); },
                      [this](std::uint64_t) {
                          if (auto* f = announce.load()) f->map_changed();
                      },
                      encode_peer};
    Fanout hub{registry,
               MapMessages(to_proto(network).SerializeAsString(), 1 << 20),
               {std::chrono::milliseconds(2), std::chrono::milliseconds(10), 1 << 20}};
    TlsIdentity tls = make_self_signed_identity();
    CoordinatorService service{registry, hub, tls.fingerprint, setup.limits};
    AdminService admin_service{registry, hub, AdminService::Access::local, tls.fingerprint};
    AdminService remote_admin_service{registry, hub, AdminService::Access::remote, tls.fingerprint};
    std::unique_ptr<grpc::Server> server;
    std::unique_ptr<grpc::Server> remote_admin_server;
    std::unique_ptr<v1::Coordinator::Stub> stub;
    std::unique_ptr<v1::Admin::Stub> admin;
    int port = 0;
    int remote_admin_port = 0;

    explicit Server(ServerSetup given = {})
        : setup(std::move(given)), network(network_config(setup)) {
        REQUIRE(sodium_init() >= 0);
        proof_fingerprint() = tls.fingerprint;
        announce = &hub;
        hub.start();
        service.set_relays(setup.relays);
        service.start();
        grpc::SslServerCredentialsOptions tls_options;
        tls_options.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
        grpc::ServerBuilder builder;
        builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls_options), &port);
        builder.RegisterService(&service);
        builder.RegisterService(&admin_service);  // on the unix socket in production
        server = builder.BuildAndStart();
        REQUIRE(port != 0);
        grpc::ServerBuilder remote;
        remote.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls_options),
                                &remote_admin_port);
        remote.RegisterService(&remote_admin_service);
        remote_admin_server = remote.BuildAndStart();
        REQUIRE(remote_admin_port != 0);
        auto channel = channel_to(port);
        stub = v1::Coordinator::NewStub(channel);
        admin = v1::Admin::NewStub(channel);
    }
    std::shared_ptr<grpc::Channel> channel_to(int to_port) const {
        return tls::pinned_channel("127.0.0.1:" + std::to_string(to_port), tls.fingerprint);
    }
    static NetworkConfig network_config(const ServerSetup& setup) {
        NetworkConfig n;
        n.ipv6_prefix = IpPrefix::parse("fd00:1::/48");
        n.stun_port = setup.stun_port;
        n.node_key_ttl = setup.node_key_ttl;
        n.ephemeral_inactivity = setup.ephemeral_inactivity;
        n.container_pools = setup.container_pools;
        return n;
    }
    ~Server() {
        hub.shutdown();
        server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
        remote_admin_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    }

    grpc::Status join(const v1::JoinRequest& request, v1::JoinResponse* response = nullptr) {
        v1::JoinResponse ignored;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        return stub->Join(&ctx, request, response ? response : &ignored);
    }

    v1::ListNodesResponse list_nodes() {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        v1::ListNodesResponse response;
        REQUIRE(admin->ListNodes(&ctx, {}, &response).ok());
        return response;
    }
};

inline TokenParams token_params(std::int64_t ttl, bool reusable, std::uint32_t max_uses,
                                std::vector<std::string> tags = {}, bool ephemeral = false) {
    TokenParams p;
    p.ttl_seconds = ttl;
    p.reusable = reusable;
    p.max_uses = max_uses;
    p.tags = std::move(tags);
    p.ephemeral = ephemeral;
    return p;
}

inline v1::JoinRequest join_request(const Machine& m, const std::string& token,
                                    const std::string& host) {
    v1::JoinRequest r;
    r.set_token(token);
    r.set_wireguard_public_key(m.wg_key);
    r.set_machine_public_key(m.public_key());
    r.set_hostname(host);
    r.add_endpoints("192.0.2.1:51820");
    r.set_machine_signature(m.sign(v1::join_proof_message(proof_fingerprint(), token, m.wg_key)));
    return r;
}

// What most cases start from: a reusable token, and `m` joined as `host` with it (the case stops
// when the join fails).
inline std::string reusable_token(Server& s) {
    return s.registry.create_token(token_params(3600, true, 0)).text;
}
inline v1::JoinResponse joined(Server& s, const Machine& m, const std::string& token,
                               const std::string& host) {
    v1::JoinResponse response;
    REQUIRE(s.join(join_request(m, token, host), &response).ok());
    return response;
}

inline v1::SyncRequest hello(const Machine& m, const std::string& node_id,
                             const std::string& challenge) {
    v1::SyncRequest req;
    auto* h = req.mutable_hello();
    h->set_node_id(node_id);
    h->set_signature(m.sign(v1::sync_proof_message(proof_fingerprint(), node_id, challenge)));
    return req;
}

using SyncStreamPtr = std::unique_ptr<grpc::ClientReaderWriter<v1::SyncRequest, v1::SyncResponse>>;

// The coordinator's first message on every Sync stream.
inline std::string read_challenge(const SyncStreamPtr& stream) {
    v1::SyncResponse msg;
    REQUIRE(stream->Read(&msg));
    REQUIRE(msg.has_challenge());
    REQUIRE(msg.challenge().nonce().size() == v1::kChallengeBytes);
    return msg.challenge().nonce();
}

// Opens a stream, answers the challenge with make_first(challenge), and returns the status the
// server ends the stream with.
inline grpc::Status sync_status(
    Server& s, const std::function<v1::SyncRequest(const std::string&)>& make_first) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = s.stub->Sync(&ctx);
    stream->Write(make_first(read_challenge(stream)));
    stream->WritesDone();
    v1::SyncResponse ignored;
    while (stream->Read(&ignored)) {
    }
    return stream->Finish();
}

// An open Sync stream of one node, past its full map.
struct SyncStream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::SyncRequest, v1::SyncResponse>> rw;
    v1::NetMap full;

    SyncStream(Server& s, const Machine& m, const std::string& node_id) {
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        rw = s.stub->Sync(&ctx);
        REQUIRE(rw->Write(hello(m, node_id, read_challenge(rw))));
        v1::SyncResponse msg;
        REQUIRE(rw->Read(&msg));
        REQUIRE(msg.has_full());
        full = msg.full();
    }
    // Reads until the server ends the stream; its status.
    grpc::Status finish() {
        v1::SyncResponse ignored;
        while (rw->Read(&ignored)) {
        }
        return rw->Finish();
    }
};

// Polls until `done` holds (the server handles stream messages on its own threads).
template <class Pred>
bool eventually(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

inline v1::NodeInfo node_info(Server& s, const std::string& id) {
    auto response = s.list_nodes();
    for (const auto& n : response.nodes()) {
        if (n.node_id() == id) return n;
    }
    FAIL("node " << id << " is not listed");
    return {};
}

inline v1::SyncRequest path_report(v1::NatType nat, const std::string& reflexive) {
    v1::SyncRequest req;
    req.mutable_paths()->set_nat(nat);
    req.mutable_paths()->set_reflexive(reflexive);
    return req;
}

inline v1::PeerPath* add_path(v1::SyncRequest& req, const std::string& id, v1::PathKind kind,
                              const std::string& endpoint = "") {
    auto* p = req.mutable_paths()->add_peers();
    p->set_node_id(id);
    p->set_path(kind);
    p->set_endpoint(endpoint);
    return p;
}

}  // namespace rpc_harness
