// The Coordinator and Admin services over real gRPC on loopback: every refusal with its exact
// status code and nothing stored, a Sync stream from hello to readiness, path reports as the
// operator sees them, and the STUN port reaching the agents.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "kmod-bridge/turn_codec.hpp"
#include "rpc_harness.hpp"

using namespace rpc_harness;

TEST_CASE("Join refuses malformed input with INVALID_ARGUMENT and stores nothing") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
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
    auto single = s.registry.create_token(token_params(60, false, 0)).text;
    CHECK(s.join(join_request(m, single, "web")).ok());
    Machine other;
    auto used = s.join(join_request(other, single, "db"));
    CHECK(used.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(used.error_message().find("used up") != std::string::npos);
    auto expiring = s.registry.create_token(token_params(60, true, 0)).text;
    s.now += 61;
    CHECK(s.join(join_request(other, expiring, "db")).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.store.nodes().size() == 1);
}

TEST_CASE("Join: a WireGuard key claimed by another machine is refused") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    b.wg_key = a.wg_key;
    REQUIRE(s.join(join_request(a, token, "a")).ok());
    CHECK(s.join(join_request(b, token, "b")).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.store.nodes().size() == 1);
}

TEST_CASE("Sync refuses a bad first message, a bad proof and unknown nodes") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine m, impostor;
    v1::JoinResponse joined;
    REQUIRE(s.join(join_request(m, token, "a"), &joined).ok());

    const std::string id = joined.node_id();
    const auto version = s.store.version();
    auto ack_first = [](const std::string&) {
        v1::SyncRequest r;
        r.mutable_ack()->set_version(1);
        return r;
    };
    CHECK(sync_status(s, ack_first).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    auto no_node_id = [&](const std::string& c) {
        auto r = hello(m, id, c);
        r.mutable_hello()->clear_node_id();
        return r;
    };
    CHECK(sync_status(s, no_node_id).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    // Missing proof, another machine's proof, a proof over another challenge, a replayed one.
    auto unsigned_hello = [&](const std::string& c) {
        auto r = hello(m, id, c);
        r.mutable_hello()->clear_signature();
        return r;
    };
    CHECK(sync_status(s, unsigned_hello).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(sync_status(s, [&](const std::string& c) {
              return hello(impostor, id, c);
          }).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(sync_status(s, [&](const std::string&) {
              return hello(m, id, std::string(v1::kChallengeBytes, 'x'));
          }).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    std::string recorded;
    REQUIRE(sync_status(s, [&](const std::string& c) {
                auto r = hello(m, id, c);
                recorded = r.SerializeAsString();
                return r;
            }).error_code() != grpc::StatusCode::UNAUTHENTICATED);
    CHECK(sync_status(s, [&](const std::string&) {
              v1::SyncRequest r;
              REQUIRE(r.ParseFromString(recorded));
              return r;
          }).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    // A valid proof for node A's id, but made with node B's machine key: B acting as A.
    Machine other;
    v1::JoinResponse joined_other;
    REQUIRE(s.join(join_request(other, token, "b"), &joined_other).ok());
    CHECK(sync_status(s, [&](const std::string& c) { return hello(other, id, c); }).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    CHECK(sync_status(s, [&](const std::string& c) {
              return hello(m, "n-0000000000000000", c);
          }).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(s.store.version() == version + 1);  // only b's join changed the map
}

TEST_CASE("Sync: full map, delta for a new peer, readiness after both acks") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());

    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = s.stub->Sync(&ctx);
    REQUIRE(stream->Write(hello(a, ja.node_id(), read_challenge(stream))));
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

    // b syncs and acknowledges its full map (a's key in it): the pair is ready.
    SyncStream sb(s, b, jb.node_id());
    v1::SyncRequest ack_b;
    ack_b.mutable_ack()->set_version(sb.full.version());
    REQUIRE(sb.rw->Write(ack_b));
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

TEST_CASE("Sync: a path report shows up in ListNodes and the table until the stream closes") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b, c;
    v1::JoinResponse ja, jb, jc;
    REQUIRE(s.join(join_request(a, token, "web-1"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "db-2"), &jb).ok());
    REQUIRE(s.join(join_request(c, token, "db-3"), &jc).ok());

    auto stream = std::make_unique<SyncStream>(s, a, ja.node_id());
    auto report = path_report(v1::NAT_ENDPOINT_DEPENDENT, "198.51.100.7:40001");
    add_path(report, jb.node_id(), v1::PATH_NONE);
    add_path(report, jc.node_id(), v1::PATH_LAN, "192.0.2.3:51820")->set_rtt_us(800);
    add_path(report, "n-ffffffffffffffff", v1::PATH_NONE);  // not in the map: ignored
    REQUIRE(stream->rw->Write(report));

    REQUIRE(eventually([&] { return node_info(s, ja.node_id()).paths_size() > 0; }));
    auto info = node_info(s, ja.node_id());
    CHECK(info.connected());
    CHECK(info.nat() == v1::NAT_ENDPOINT_DEPENDENT);
    CHECK(info.reflexive() == "198.51.100.7:40001");
    REQUIRE(info.paths_size() == 2);
    CHECK(info.paths(0).node_id() == jb.node_id());
    CHECK(info.paths(0).path() == v1::PATH_NONE);
    CHECK(info.paths(1).node_id() == jc.node_id());
    CHECK(info.paths(1).path() == v1::PATH_LAN);
    CHECK(info.paths(1).endpoint() == "192.0.2.3:51820");
    CHECK(info.paths(1).rtt_us() == 800);
    CHECK(node_info(s, jb.node_id()).nat() == v1::NAT_UNKNOWN);  // b never reported

    auto table = render_nodes_table(s.list_nodes());
    INFO(table);
    CHECK_THAT(table, Catch::Contains("endpoint-dependent (needs relay)"));
    CHECK_THAT(table, Catch::Contains(" 1/2 "));
    CHECK_THAT(table, !Catch::Contains("n-ffffffffffffffff"));
    CHECK_THAT(table, Catch::Contains("no direct path: web-1 -> db-2\n"));

    // A newer report replaces the whole previous one.
    auto second = path_report(v1::NAT_ENDPOINT_INDEPENDENT, "");
    add_path(second, jb.node_id(), v1::PATH_NAT_DIRECT, "203.0.113.2:51820");
    REQUIRE(stream->rw->Write(second));
    REQUIRE(eventually(
        [&] { return node_info(s, ja.node_id()).nat() == v1::NAT_ENDPOINT_INDEPENDENT; }));
    info = node_info(s, ja.node_id());
    CHECK(info.reflexive().empty());
    REQUIRE(info.paths_size() == 1);
    CHECK(info.paths(0).path() == v1::PATH_NAT_DIRECT);
    CHECK_THAT(render_nodes_table(s.list_nodes()), !Catch::Contains("no direct path"));

    stream->ctx.TryCancel();
    stream->finish();
    stream.reset();
    REQUIRE(eventually([&] { return !node_info(s, ja.node_id()).connected(); }));
    info = node_info(s, ja.node_id());
    CHECK(info.nat() == v1::NAT_UNKNOWN);
    CHECK(info.reflexive().empty());
    CHECK(info.paths_size() == 0);
}

TEST_CASE("Sync: a malformed path or endpoint report ends the stream with INVALID_ARGUMENT") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());

    auto bad_endpoint = path_report(v1::NAT_NONE, "");
    add_path(bad_endpoint, jb.node_id(), v1::PATH_LAN, "nonsense");
    auto bad_reflexive = path_report(v1::NAT_NONE, "198.51.100.7");  // no port
    auto twice = path_report(v1::NAT_NONE, "");
    add_path(twice, jb.node_id(), v1::PATH_LAN);
    add_path(twice, jb.node_id(), v1::PATH_NONE);
    auto too_many = path_report(v1::NAT_NONE, "");
    for (int i = 0; i <= kMaxPathPeers; ++i) {  // one more than a mesh can have peers
        add_path(too_many, "n-" + std::to_string(i), v1::PATH_LAN);
    }
    v1::SyncRequest endpoints;
    endpoints.mutable_endpoints()->add_endpoints("nonsense");

    for (const auto* bad : {&bad_endpoint, &bad_reflexive, &twice, &too_many, &endpoints}) {
        SyncStream stream(s, a, ja.node_id());
        REQUIRE(stream.rw->Write(*bad));
        auto status = stream.finish();
        INFO(status.error_message());
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
        REQUIRE(eventually([&] { return !node_info(s, ja.node_id()).connected(); }));
        CHECK(node_info(s, ja.node_id()).paths_size() == 0);
    }
    CHECK(s.store.node(ja.node_id())->endpoints.at(0).to_string() == "192.0.2.1:51820");
}

TEST_CASE("The STUN port reaches the agent in the Join response and the full map") {
    for (std::uint32_t stun_port : {3478u, 0u}) {
        Server s({.stun_port = stun_port});
        auto token = s.registry.create_token(token_params(3600, true, 0)).text;
        Machine a;
        v1::JoinResponse ja;
        REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
        CHECK(ja.network().stun_port() == stun_port);
        SyncStream stream(s, a, ja.node_id());
        CHECK(stream.full.network().stun_port() == stun_port);
        stream.ctx.TryCancel();
    }
}

TEST_CASE("Join: container subnets reach the host, its peers' maps and ListNodes") {
    Server s({.container_pools = {{IpPrefix::parse("10.244.0.0/16"), 24}}});
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b, c;
    v1::JoinResponse ja, jb;
    auto ra = join_request(a, token, "a");
    ra.set_container_subnet("auto");
    REQUIRE(s.join(ra, &ja).ok());
    REQUIRE(ja.container_subnets_size() == 1);
    CHECK(ja.container_subnets(0) == "10.244.0.0/24");
    CHECK(ja.network().container_pools(0) == "10.244.0.0/16");

    auto rb = join_request(b, token, "b");
    rb.set_container_subnet("10.244.7.0/24");  // inside the pool: reserved for auto
    auto status = s.join(rb, &jb);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("container pool 10.244.0.0/16") != std::string::npos);
    rb = join_request(b, token, "b");
    rb.set_container_subnet("172.20.0.0/16");
    REQUIRE(s.join(rb, &jb).ok());
    auto rc = join_request(c, token, "c");
    rc.set_container_subnet("172.20.5.0/24");
    status = s.join(rc);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("of host b (" + jb.node_id() + ")") != std::string::npos);
    rc.set_container_subnet("172.20.5.1/24");
    CHECK(s.join(rc).error_code() == grpc::StatusCode::INVALID_ARGUMENT);  // host bits

    SyncStream sa(s, a, ja.node_id());
    REQUIRE(sa.full.peers_size() == 1);
    CHECK(sa.full.peers(0).container_subnets(0) == "172.20.0.0/16");
    CHECK(sa.full.self().container_subnets(0) == "10.244.0.0/24");
    CHECK(sa.full.network().container_pools(0) == "10.244.0.0/16");
    auto nodes = s.list_nodes();
    REQUIRE(nodes.nodes_size() == 2);
    CHECK(render_nodes_table(nodes).find("172.20.0.0/16") != std::string::npos);
    sa.ctx.TryCancel();
}

// TS-2025-007 was a one-off key checked in one transaction and consumed in another, so
// concurrent registrations each passed the check. Here the check and the use are one transaction.
TEST_CASE("Join: 60 concurrent joins with one single-use token make exactly one node") {
    Server s;
    auto single = s.registry.create_token(token_params(60, false, 0)).text;
    auto limited = s.registry.create_token(token_params(60, true, 10)).text;
    constexpr int kJoins = 60;
    std::vector<Machine> machines(2 * kJoins);
    std::vector<grpc::Status> results(2 * kJoins);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < 2 * kJoins; ++i) {
        threads.emplace_back([&, i] {
            while (!go) std::this_thread::yield();
            const auto& token = i < kJoins ? single : limited;
            results[i] = s.join(join_request(machines[i], token, "host" + std::to_string(i)));
        });
    }
    go = true;
    for (auto& t : threads) t.join();
    int single_ok = 0, limited_ok = 0, refused = 0;
    for (int i = 0; i < 2 * kJoins; ++i) {
        if (results[i].ok()) {
            (i < kJoins ? single_ok : limited_ok)++;
        } else if (results[i].error_code() == grpc::StatusCode::PERMISSION_DENIED &&
                   results[i].error_message().find("used up") != std::string::npos) {
            ++refused;
        }
    }
    CHECK(single_ok == 1);
    CHECK(limited_ok == 10);
    CHECK(refused == 2 * kJoins - 11);  // every other join refused as used up, none failed else
    CHECK(s.store.nodes().size() == 11);
}

namespace {

// A node joins, opens its stream and asks for relay credentials: the answer.
v1::RelayCredentials ask_relays(Server& s, std::string& node_id) {
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a;
    v1::JoinResponse ja;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    node_id = ja.node_id();
    SyncStream sa(s, a, ja.node_id());
    v1::SyncRequest ask;
    ask.mutable_relay_credentials();
    REQUIRE(sa.rw->Write(ask));
    v1::SyncResponse msg;
    bool got = false;
    while (!got && sa.rw->Read(&msg)) got = msg.has_relays();
    REQUIRE(got);
    return msg.relays();
}

}  // namespace

TEST_CASE("Sync: relay credentials for this node only, under the shared secret") {
    RelayConfig relays;
    relays.servers = {parse_relay_url("turn:203.0.113.5"),
                      parse_relay_url("turns:relay.example.com:443")};
    relays.secret = "0123456789abcdef0123";
    relays.credential_ttl = 3600;
    Server s({.relays = relays});
    std::string node_id;
    const auto r = ask_relays(s, node_id);
    REQUIRE(r.servers_size() == 2);
    CHECK(r.servers(0).url() == "turn:203.0.113.5:3478");
    CHECK(r.servers(1).url() == "turns:relay.example.com:443");
    CHECK(r.expires_at() == s.now.load() + 3600);
    const auto expected = mesh::kb::turn::rest_credential(relays.secret, r.expires_at(), node_id);
    CHECK(r.servers(0).username() == std::to_string(r.expires_at()) + ":" + node_id);
    CHECK(r.servers(0).username() == expected.username);
    CHECK(r.servers(0).password() == expected.password);
    CHECK(r.servers(1).password() == expected.password);
}

TEST_CASE("Sync: without relays configured the answer lists none") {
    Server s;
    std::string node_id;
    const auto r = ask_relays(s, node_id);
    CHECK(r.servers_size() == 0);
    CHECK(r.expires_at() == 0);
}

TEST_CASE("Sync: a node's relayed address reaches its peers, and is withdrawn") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    SyncStream sa(s, a, ja.node_id());
    SyncStream sb(s, b, jb.node_id());
    auto relay_seen_by_b = [&](const std::string& want) {
        v1::SyncResponse msg;
        while (sb.rw->Read(&msg)) {
            if (!msg.has_delta()) continue;
            for (const auto& p : msg.delta().upserted()) {
                if (p.node_id() == ja.node_id() && p.relay_endpoint() == want) return true;
            }
        }
        return false;
    };
    v1::SyncRequest report;
    report.mutable_endpoints()->add_endpoints("198.51.100.7:51820");
    report.mutable_endpoints()->set_relay("203.0.113.5:49152");
    REQUIRE(sa.rw->Write(report));
    CHECK(relay_seen_by_b("203.0.113.5:49152"));
    CHECK(s.registry.node(ja.node_id())->relay == Endpoint::parse("203.0.113.5:49152"));
    report.mutable_endpoints()->clear_relay();
    REQUIRE(sa.rw->Write(report));
    CHECK(relay_seen_by_b(""));
    CHECK_FALSE(s.registry.node(ja.node_id())->relay);

    report.mutable_endpoints()->set_relay("127.0.0.1:49152");  // loopback: nobody can send there
    REQUIRE(sa.rw->Write(report));
    auto status = sa.finish();
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("relay endpoint") != std::string::npos);
}
