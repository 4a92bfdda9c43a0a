// The Sync path under abuse and faults, over real gRPC and TLS on loopback (issue 11 and the
// security review's findings 1, 4, 6, 8): streams that never say hello, a storage error in one
// stream, endpoint churn, special addresses, acks that go backwards.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "rpc_harness.hpp"

using namespace rpc_harness;

namespace {

// A channel of its own connection (a stream limit is per connection).
std::shared_ptr<grpc::Channel> own_connection(const Server& s) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return tls::pinned_channel("127.0.0.1:" + std::to_string(s.port), s.tls.fingerprint, nullptr,
                               args);
}

// A Sync stream that reads the challenge and then says nothing.
struct SilentStream {
    grpc::ClientContext ctx;
    SyncStreamPtr rw;
    explicit SilentStream(v1::Coordinator::Stub& stub) {
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        rw = stub.Sync(&ctx);
    }
    grpc::Status finish() {
        v1::SyncResponse ignored;
        while (rw->Read(&ignored)) {
        }
        return rw->Finish();
    }
};

v1::SyncRequest endpoints_report(const std::string& endpoint) {
    v1::SyncRequest r;
    r.mutable_endpoints()->add_endpoints(endpoint);
    return r;
}

std::string temp_database() {
    char tmpl[] = "/tmp/mesh-fanout-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    return std::string(tmpl) + "/coordinator.db";
}

}  // namespace

TEST_CASE("security 1: 300 streams without a hello are closed by the deadline, and joins go on") {
    ServerSetup setup;
    setup.limits.gate.hello_deadline = std::chrono::milliseconds(2000);
    setup.limits.gate.max_waiting_per_source = 512;  // all 300 from 127.0.0.1
    Server s(setup);
    std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs;
    for (int i = 0; i < 300 / 8 + 1; ++i)
        stubs.push_back(v1::Coordinator::NewStub(own_connection(s)));
    std::vector<std::unique_ptr<SilentStream>> silent;
    for (int i = 0; i < 300; ++i) {
        silent.push_back(std::make_unique<SilentStream>(*stubs[i / 8]));
        v1::SyncResponse challenge;
        REQUIRE(silent.back()->rw->Read(&challenge));  // the server holds it open
        REQUIRE(challenge.has_challenge());
    }
    // While they wait: a host joins and syncs its full map at once.
    auto started = std::chrono::steady_clock::now();
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine m;
    v1::JoinResponse joined;
    REQUIRE(s.join(join_request(m, token, "h"), &joined).ok());
    SyncStream stream(s, m, joined.node_id());
    CHECK(stream.full.self().node_id() == joined.node_id());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1500));
    // And every silent stream ends with DEADLINE_EXCEEDED.
    int timed_out = 0;
    for (auto& st : silent)
        timed_out += st->finish().error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    CHECK(timed_out == 300);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(6000));
}

TEST_CASE("security 1: over the per-source cap, a stream without a hello is refused at once") {
    ServerSetup setup;
    setup.limits.gate.max_waiting_per_source = 16;
    Server s(setup);
    std::vector<std::unique_ptr<v1::Coordinator::Stub>> stubs;
    for (int i = 0; i < 3; ++i) stubs.push_back(v1::Coordinator::NewStub(own_connection(s)));
    std::vector<std::unique_ptr<SilentStream>> silent;
    for (int i = 0; i < 16; ++i) {
        silent.push_back(std::make_unique<SilentStream>(*stubs[i / 8]));
        v1::SyncResponse challenge;
        REQUIRE(silent.back()->rw->Read(&challenge));
    }
    SilentStream over(*stubs[2]);
    CHECK(over.finish().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    for (auto& st : silent) st->ctx.TryCancel();
}

TEST_CASE("security 6: a storage error in one stream ends that stream only") {
    ServerSetup setup;
    setup.database = temp_database();
    Server s(setup);
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    SyncStream sa(s, a, ja.node_id()), sb(s, b, jb.node_id());
    // A real SQLite fault on a's row, from another connection to the same file.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(setup.database.c_str(), &db) == SQLITE_OK);
    const std::string trigger = "CREATE TRIGGER fault BEFORE UPDATE ON nodes WHEN OLD.id = '" +
                                ja.node_id() + "' BEGIN SELECT RAISE(ABORT, 'injected fault'); END";
    REQUIRE(sqlite3_exec(db, trigger.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);

    v1::SyncRequest rotate;
    rotate.mutable_rotate_key()->set_wireguard_public_key(std::string(32, '\x33'));
    REQUIRE(sa.rw->Write(rotate));
    auto ended = sa.finish();
    CHECK(ended.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK_THAT(ended.error_message(), Catch::Contains("injected fault"));
    // The coordinator and b's stream go on: a third node's join reaches b.
    Machine c;
    v1::JoinResponse jc;
    REQUIRE(s.join(join_request(c, token, "c"), &jc).ok());
    v1::SyncResponse msg;
    bool got = false;
    while (!got && sb.rw->Read(&msg)) {
        got = msg.has_delta() && msg.delta().upserted_size() == 1 &&
              msg.delta().upserted(0).node_id() == jc.node_id();
    }
    CHECK(got);
    std::filesystem::remove_all(std::filesystem::path(setup.database).parent_path());
}

TEST_CASE("security 4: endpoint churn from one node reaches a peer as a few deltas a second") {
    ServerSetup setup;
    setup.limits.endpoint_interval = std::chrono::milliseconds(1000);  // the default
    Server s(setup);
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    SyncStream sa(s, a, ja.node_id()), sb(s, b, jb.node_id());
    // b reads on its own thread, counting the deltas that change a's endpoints.
    std::atomic<int> deltas{0};
    std::atomic<bool> saw_last{false};
    std::thread reader([&] {
        v1::SyncResponse msg;
        while (sb.rw->Read(&msg)) {
            if (!msg.has_delta()) continue;
            for (const auto& p : msg.delta().upserted()) {
                if (p.node_id() != ja.node_id()) continue;
                ++deltas;
                if (p.endpoints_size() == 1 && p.endpoints(0) == "192.0.2.99:51820")
                    saw_last = true;
            }
        }
    });
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 300; ++i) {  // 300 reports in ~1.5 s, alternating
        REQUIRE(sa.rw->Write(endpoints_report(i % 2 ? "192.0.2.10:51820" : "192.0.2.11:51820")));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(sa.rw->Write(endpoints_report("192.0.2.99:51820")));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    CHECK(eventually([&] { return saw_last.load(); }));  // the newest list always gets through
    sb.ctx.TryCancel();
    reader.join();
    INFO(deltas.load() << " deltas for " << 301 << " reports in " << seconds << " s");
    CHECK(deltas.load() <= static_cast<int>(seconds) + 3);
    CHECK(deltas.load() >= 1);
}

TEST_CASE("security 4: special addresses are INVALID_ARGUMENT in a Join and in a report") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    for (const char* bad : {"127.0.0.1:22", "255.255.255.255:9", "224.0.0.251:5353", "0.0.0.0:1",
                            "[::1]:22", "[ff02::1]:9", "100.64.0.9:51820", "169.254.0.1:1"}) {
        INFO(bad);
        Machine m;
        auto request = join_request(m, token, "h");
        request.add_endpoints(bad);
        auto status = s.join(request);
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
    CHECK(s.store.nodes().empty());
    Machine m;
    v1::JoinResponse joined;
    REQUIRE(s.join(join_request(m, token, "h"), &joined).ok());
    SyncStream stream(s, m, joined.node_id());
    REQUIRE(stream.rw->Write(endpoints_report("[ff02::1]:9")));
    CHECK(stream.finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.store.node(joined.node_id())->endpoints.at(0).to_string() == "192.0.2.1:51820");
    Machine many;
    auto seventeen = join_request(many, token, "many");
    for (int i = 0; i < 16; ++i) seventeen.add_endpoints("192.0.2." + std::to_string(i + 2) + ":1");
    CHECK(s.join(seventeen).error_code() == grpc::StatusCode::INVALID_ARGUMENT);  // 17 in all
}

TEST_CASE("security 8: a flood of acks from one stream ends it, and wakes nobody else") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    SyncStream sa(s, a, ja.node_id()), sb(s, b, jb.node_id());
    v1::SyncRequest ack;
    bool writing = true;
    for (int i = 0; i < 5000 && writing; ++i) {  // alternating 0/1, as in the review
        ack.mutable_ack()->set_version(i % 2);
        writing = sa.rw->Write(ack);
    }
    CHECK(sa.finish().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(s.hub.applied(ja.node_id()) == 1u);  // the one increase counted; the lower ones never
    CHECK(s.hub.connected(jb.node_id()));
}
