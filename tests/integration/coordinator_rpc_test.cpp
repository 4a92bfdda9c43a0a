// The Coordinator service over real gRPC on loopback: every refusal with its exact status code
// and nothing stored, and a Sync stream from hello to readiness.
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <ctime>

#include "coordinator/coordinator_service.hpp"
#include "coordinator/sqlite_store.hpp"
#include "sync_proof.hpp"

using namespace mesh;
using namespace mesh::coord;

namespace {

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

struct Server {
    SqliteStore store{":memory:"};
    Hub hub;
    NetworkConfig network = [] {
        NetworkConfig n;
        n.ipv6_prefix = IpPrefix::parse("fd00:1::/48");
        return n;
    }();
    // Read by the server's threads: gRPC's own synchronization is invisible to TSan (not
    // instrumented), so the test's clock is atomic rather than relying on it.
    std::atomic<std::int64_t> now{std::time(nullptr)};
    Registry registry{store, network, [this] { return now.load(); },
                      [this](std::uint64_t) { hub.publish(); }};
    CoordinatorService service{registry, hub};
    std::unique_ptr<grpc::Server> server;
    std::unique_ptr<v1::Coordinator::Stub> stub;

    Server() {
        REQUIRE(sodium_init() >= 0);
        int port = 0;
        grpc::ServerBuilder builder;
        builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
        builder.RegisterService(&service);
        server = builder.BuildAndStart();
        REQUIRE(port != 0);
        stub = v1::Coordinator::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                            grpc::InsecureChannelCredentials()));
    }
    ~Server() {
        hub.shutdown();
        server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    }

    grpc::Status join(const v1::JoinRequest& request, v1::JoinResponse* response = nullptr) {
        v1::JoinResponse ignored;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        return stub->Join(&ctx, request, response ? response : &ignored);
    }
};

v1::JoinRequest join_request(const Machine& m, const std::string& token, const std::string& host) {
    v1::JoinRequest r;
    r.set_token(token);
    r.set_wireguard_public_key(m.wg_key);
    r.set_machine_public_key(m.public_key());
    r.set_hostname(host);
    r.add_endpoints("192.0.2.1:51820");
    return r;
}

v1::SyncRequest hello(const Machine& m, const std::string& node_id, std::int64_t ts) {
    v1::SyncRequest req;
    auto* h = req.mutable_hello();
    h->set_node_id(node_id);
    h->set_timestamp(ts);
    h->set_signature(m.sign(v1::sync_proof_message(node_id, ts)));
    return req;
}

grpc::Status sync_status(Server& s, const v1::SyncRequest& first) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = s.stub->Sync(&ctx);
    stream->Write(first);
    stream->WritesDone();
    v1::SyncResponse ignored;
    while (stream->Read(&ignored)) {
    }
    return stream->Finish();
}

}  // namespace

TEST_CASE("Join refuses malformed input with INVALID_ARGUMENT and stores nothing") {
    Server s;
    auto token = s.registry.create_token(3600, true, 0).text;
    Machine m;
    auto before = s.store.version();

    auto short_key = join_request(m, token, "web");
    short_key.set_wireguard_public_key(std::string(31, 'x'));
    auto zero_key = join_request(m, token, "web");
    zero_key.set_wireguard_public_key(std::string(32, '\0'));
    auto long_machine = join_request(m, token, "web");
    long_machine.set_machine_public_key(std::string(33, 'x'));
    auto bad_host = join_request(m, token, "web server!");
    auto empty_host = join_request(m, token, "");
    auto bad_endpoint = join_request(m, token, "web");
    bad_endpoint.add_endpoints("300.1.1.1:5");

    for (const auto* r :
         {&short_key, &zero_key, &long_machine, &bad_host, &empty_host, &bad_endpoint}) {
        auto status = s.join(*r);
        INFO(status.error_message());
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
    CHECK(s.store.nodes().empty());
    CHECK(s.store.version() == before);
    CHECK(s.store.tokens()[0].uses == 0);
}

TEST_CASE("Join: token refusals carry their exact codes") {
    Server s;
    Machine m;
    CHECK(s.join(join_request(m, "garbage", "web")).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    auto unknown = generate_token(s.now, 60, false, 0).text;
    CHECK(s.join(join_request(m, unknown, "web")).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    auto single = s.registry.create_token(60, false, 0).text;
    CHECK(s.join(join_request(m, single, "web")).ok());
    Machine other;
    auto used = s.join(join_request(other, single, "db"));
    CHECK(used.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(used.error_message().find("used up") != std::string::npos);
    auto expiring = s.registry.create_token(60, true, 0).text;
    s.now += 61;
    CHECK(s.join(join_request(other, expiring, "db")).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.store.nodes().size() == 1);
}

TEST_CASE("Join: a WireGuard key claimed by another machine is refused") {
    Server s;
    auto token = s.registry.create_token(3600, true, 0).text;
    Machine a, b;
    b.wg_key = a.wg_key;
    REQUIRE(s.join(join_request(a, token, "a")).ok());
    CHECK(s.join(join_request(b, token, "b")).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.store.nodes().size() == 1);
}

TEST_CASE("Sync refuses a bad first message, a bad proof and unknown nodes") {
    Server s;
    auto token = s.registry.create_token(3600, true, 0).text;
    Machine m, impostor;
    v1::JoinResponse joined;
    REQUIRE(s.join(join_request(m, token, "a"), &joined).ok());

    v1::SyncRequest ack_first;
    ack_first.mutable_ack()->set_version(1);
    CHECK(sync_status(s, ack_first).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(sync_status(s, hello(impostor, joined.node_id(), s.now)).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    CHECK(sync_status(s, hello(m, joined.node_id(), s.now - 3600)).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    CHECK(sync_status(s, hello(m, "n-0000000000000000", s.now)).error_code() ==
          grpc::StatusCode::NOT_FOUND);
    auto tampered = hello(m, joined.node_id(), s.now);
    tampered.mutable_hello()->set_timestamp(s.now + 1);  // signature no longer matches
    CHECK(sync_status(s, tampered).error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("Sync: full map, delta for a new peer, readiness after both acks") {
    Server s;
    auto token = s.registry.create_token(3600, true, 0).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());

    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = s.stub->Sync(&ctx);
    REQUIRE(stream->Write(hello(a, ja.node_id(), s.now)));
    v1::SyncResponse msg;
    REQUIRE(stream->Read(&msg));
    REQUIRE(msg.has_full());
    CHECK(msg.full().self().node_id() == ja.node_id());
    CHECK(msg.full().peers_size() == 0);
    v1::SyncRequest ack;
    ack.mutable_ack()->set_version(msg.full().version());
    REQUIRE(stream->Write(ack));

    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    REQUIRE(stream->Read(&msg));
    REQUIRE(msg.has_delta());
    REQUIRE(msg.delta().upserted_size() == 1);
    CHECK(msg.delta().upserted(0).node_id() == jb.node_id());
    CHECK(msg.delta().upserted(0).endpoints(0) == "192.0.2.1:51820");
    ack.mutable_ack()->set_version(msg.delta().version());
    REQUIRE(stream->Write(ack));

    // b acknowledges a's key (as its agent would after applying its full map): a is ready.
    s.hub.set_applied(jb.node_id(), s.store.version());
    REQUIRE(stream->Read(&msg));
    REQUIRE(msg.has_ready());
    REQUIRE(msg.ready().respond_size() == 1);  // a is older: b starts the handshake
    CHECK(msg.ready().respond(0) == jb.node_id());

    s.registry.remove_node(ja.node_id());
    REQUIRE(stream->Read(&msg));
    REQUIRE(msg.has_delta());
    REQUIRE(msg.delta().removed_size() == 1);
    CHECK(msg.delta().removed(0) == ja.node_id());  // told in-band that it was removed
    ctx.TryCancel();
}
