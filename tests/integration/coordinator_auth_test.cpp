// Identity, tokens and authorization over real gRPC and TLS on loopback, each refusal with its
// exact status code and no state change: the operator API's credential, token revocation and
// tags, key rotation and expiry reaching peers' streams, ephemeral nodes, and what a copy of the
// coordinator's database does not give its holder.
#include <catch2/catch.hpp>

#include <filesystem>

#include "kmod-bridge/files.hpp"
#include "rpc_harness.hpp"

using namespace rpc_harness;

namespace {

// A snapshot of everything a refused call must leave alone.
struct StateSnapshot {
    std::uint64_t version;
    std::vector<NodeRecord> nodes;
    std::vector<TokenRecord> tokens;
    std::optional<std::string> credential;

    explicit StateSnapshot(Store& store)
        : version(store.version()),
          nodes(store.nodes()),
          tokens(store.tokens()),
          credential(store.meta("operator_credential")) {}
    bool operator==(const StateSnapshot&) const = default;
};

grpc::ClientContext& with_deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return ctx;
}

grpc::StatusCode create_token(Server& s, const v1::CreateTokenRequest& request) {
    grpc::ClientContext ctx;
    v1::CreateTokenResponse ignored;
    return s.admin->CreateToken(&with_deadline(ctx), request, &ignored).error_code();
}

// Calls ListNodes on the TLS admin port with the given authorization (empty = none).
grpc::StatusCode remote_list(Server& s, const std::string& authorization) {
    auto stub = v1::Admin::NewStub(s.channel_to(s.remote_admin_port));
    grpc::ClientContext ctx;
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    v1::ListNodesResponse ignored;
    return stub->ListNodes(&with_deadline(ctx), {}, &ignored).error_code();
}

v1::SyncRequest rotate(const std::string& key) {
    v1::SyncRequest r;
    r.mutable_rotate_key()->set_wireguard_public_key(key);
    return r;
}

// Reads map messages until `match` accepts one; false when the stream ends (its deadline: 10 s).
bool read_until(SyncStream& stream, const std::function<bool(const v1::SyncResponse&)>& match) {
    v1::SyncResponse msg;
    while (stream.rw->Read(&msg)) {
        if (match(msg)) return true;
    }
    return false;
}

bool lists_removed(const v1::SyncResponse& msg, const std::string& id) {
    if (!msg.has_delta()) return false;
    const auto& removed = msg.delta().removed();
    return std::find(removed.begin(), removed.end(), id) != removed.end();
}

}  // namespace

TEST_CASE("Admin: malformed fields are INVALID_ARGUMENT and change nothing") {
    Server s;
    StateSnapshot before(s.store);
    v1::CreateTokenRequest negative_ttl;
    negative_ttl.set_ttl_seconds(-1);
    CHECK(create_token(s, negative_ttl) == grpc::StatusCode::INVALID_ARGUMENT);
    v1::CreateTokenRequest long_ttl;
    long_ttl.set_ttl_seconds(366LL * 86400);
    CHECK(create_token(s, long_ttl) == grpc::StatusCode::INVALID_ARGUMENT);
    v1::CreateTokenRequest bad_tag;
    bad_tag.add_tags("web servers");
    CHECK(create_token(s, bad_tag) == grpc::StatusCode::INVALID_ARGUMENT);
    v1::CreateTokenRequest dash_tag;
    dash_tag.add_tags("-web");
    CHECK(create_token(s, dash_tag) == grpc::StatusCode::INVALID_ARGUMENT);
    v1::CreateTokenRequest many_tags;
    for (int i = 0; i < 17; ++i) many_tags.add_tags("t" + std::to_string(i));
    CHECK(create_token(s, many_tags) == grpc::StatusCode::INVALID_ARGUMENT);
    v1::CreateTokenRequest single_with_limit;
    single_with_limit.set_max_uses(5);
    CHECK(create_token(s, single_with_limit) == grpc::StatusCode::INVALID_ARGUMENT);
    {
        grpc::ClientContext ctx;
        v1::RevokeTokenResponse ignored;
        CHECK(s.admin->RevokeToken(&with_deadline(ctx), {}, &ignored).error_code() ==
              grpc::StatusCode::INVALID_ARGUMENT);
    }
    {
        grpc::ClientContext ctx;
        v1::RevokeTokenRequest unknown;
        unknown.set_token_id("0123456789abcdef");
        v1::RevokeTokenResponse ignored;
        CHECK(s.admin->RevokeToken(&with_deadline(ctx), unknown, &ignored).error_code() ==
              grpc::StatusCode::NOT_FOUND);
    }
    for (auto call : {0, 1}) {
        grpc::ClientContext ctx;
        v1::ExpireNodeResponse e;
        v1::RemoveNodeResponse r;
        auto status = call == 0 ? s.admin->ExpireNode(&with_deadline(ctx), {}, &e)
                                : s.admin->RemoveNode(&with_deadline(ctx), {}, &r);
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
    for (auto call : {0, 1}) {
        grpc::ClientContext ctx;
        v1::ExpireNodeRequest expire;
        expire.set_node("nobody");
        v1::ExpireNodeResponse e;
        v1::RemoveNodeRequest remove;
        remove.set_node("nobody");
        v1::RemoveNodeResponse r;
        auto status = call == 0 ? s.admin->ExpireNode(&with_deadline(ctx), expire, &e)
                                : s.admin->RemoveNode(&with_deadline(ctx), remove, &r);
        CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
    }
    CHECK(StateSnapshot(s.store) == before);
}

TEST_CASE(
    "Admin over TLS: no or wrong credential is UNAUTHENTICATED, a node's token is "
    "PERMISSION_DENIED") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine m;
    REQUIRE(s.join(join_request(m, token, "a")).ok());
    StateSnapshot before(s.store);

    CHECK(remote_list(s, "") == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(remote_list(s, "Basic abc") == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(remote_list(s, "Bearer mesh-op1_nonsense") == grpc::StatusCode::UNAUTHENTICATED);
    // Well-formed, before any credential exists.
    CHECK(remote_list(s, "Bearer mesh-op1_0123456789abcdef_" + std::string(48, 'a')) ==
          grpc::StatusCode::UNAUTHENTICATED);
    CHECK(remote_list(s, "Bearer " + token) == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(StateSnapshot(s.store) == before);

    auto first = s.registry.create_operator_credential();
    CHECK(remote_list(s, "Bearer " + first) == grpc::StatusCode::OK);
    // The right id with a wrong secret.
    auto wrong_secret = first.substr(0, first.size() - 1) + (first.back() == 'a' ? 'b' : 'a');
    CHECK(remote_list(s, "Bearer " + wrong_secret) == grpc::StatusCode::UNAUTHENTICATED);
    auto second = s.registry.create_operator_credential();
    CHECK(remote_list(s, "Bearer " + first) == grpc::StatusCode::UNAUTHENTICATED);  // replaced
    CHECK(remote_list(s, "Bearer " + second) == grpc::StatusCode::OK);

    // Credentials are made only on the local socket.
    auto stub = v1::Admin::NewStub(s.channel_to(s.remote_admin_port));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + second);
    v1::CreateOperatorCredentialResponse ignored;
    CHECK(stub->CreateOperatorCredential(&with_deadline(ctx), {}, &ignored).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    CHECK(remote_list(s, "Bearer " + second) == grpc::StatusCode::OK);
}

TEST_CASE("A client pinning another certificate, or speaking plaintext, gets nothing") {
    Server s;
    // A client pinning another certificate never completes the handshake.
    auto observed = std::make_shared<tls::PinObservation>();
    auto stub = v1::Admin::NewStub(tls::pinned_channel("127.0.0.1:" + std::to_string(s.port),
                                                       "sha256:" + std::string(64, '0'), observed));
    grpc::ClientContext ctx;
    v1::ListNodesResponse ignored;
    CHECK(stub->ListNodes(&with_deadline(ctx), {}, &ignored).error_code() ==
          grpc::StatusCode::UNAVAILABLE);
    {
        std::lock_guard lock(observed->mutex);
        CHECK(observed->mismatch);
        CHECK(observed->presented == s.tls.fingerprint);
    }
    // Nor does a plaintext client.
    auto plain = v1::Coordinator::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(s.port),
                                                              grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx2;
    v1::JoinResponse r;
    CHECK(plain->Join(&with_deadline(ctx2), {}, &r).error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("Join: a revoked token is refused, a wrong secret for a known id is UNAUTHENTICATED") {
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0));
    Machine a, b, c;
    REQUIRE(s.join(join_request(a, token.text, "a")).ok());
    s.registry.revoke_token(token.record.id);
    CHECK(s.join(join_request(b, token.text, "b")).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.store.nodes().size() == 1);  // the node that joined before stays

    auto other = s.registry.create_token(token_params(3600, true, 0)).text;
    auto forged = other.substr(0, other.size() - 48) + std::string(48, '0');
    CHECK(s.join(join_request(c, forged, "c")).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(s.store.token(token.record.id)->uses == 1);
    CHECK(s.store.nodes().size() == 1);
}

TEST_CASE("Tags come from the token, tags a client asks for are ignored") {
    Server s;
    auto tagged = s.registry.create_token(token_params(3600, true, 0, {"Web", "prod"})).text;
    auto plain = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    auto ra = join_request(a, tagged, "a");
    ra.add_requested_tags("admin");
    ra.add_requested_tags("prod");
    v1::JoinResponse ja;
    REQUIRE(s.join(ra, &ja).ok());
    CHECK(std::vector<std::string>(ja.tags().begin(), ja.tags().end()) ==
          std::vector<std::string>{"prod", "web"});
    auto rb = join_request(b, plain, "b");
    rb.add_requested_tags("admin");
    v1::JoinResponse jb;
    REQUIRE(s.join(rb, &jb).ok());
    CHECK(jb.tags_size() == 0);
    CHECK(s.store.node(jb.node_id())->tags.empty());
    // Peers see the granted tags in the map.
    SyncStream stream(s, b, jb.node_id());
    REQUIRE(stream.full.peers_size() == 1);
    CHECK(std::vector<std::string>(stream.full.peers(0).tags().begin(),
                                   stream.full.peers(0).tags().end()) ==
          std::vector<std::string>{"prod", "web"});
    stream.ctx.TryCancel();
}

TEST_CASE("Key rotation updates the node in place and reaches the peer's stream") {
    Server s({.node_key_ttl = 3600});
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    SyncStream sa(s, a, ja.node_id());
    SyncStream sb(s, b, jb.node_id());
    const auto before = *s.store.node(ja.node_id());

    // Malformed: wrong length; then another node's key: refused, nothing changed.
    {
        SyncStream bad(s, a, ja.node_id());
        REQUIRE(bad.rw->Write(rotate(std::string(31, 'k'))));
        CHECK(bad.finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
    {
        SyncStream bad(s, a, ja.node_id());
        REQUIRE(bad.rw->Write(rotate(b.wg_key)));
        CHECK(bad.finish().error_code() == grpc::StatusCode::PERMISSION_DENIED);
    }
    CHECK(*s.store.node(ja.node_id()) == before);

    SyncStream live(s, a, ja.node_id());
    std::string fresh(32, '\0');
    randombytes_buf(fresh.data(), fresh.size());
    s.now += 100;
    REQUIRE(live.rw->Write(rotate(fresh)));
    CHECK(read_until(sb, [&](const v1::SyncResponse& msg) {
        return msg.has_delta() && msg.delta().upserted_size() == 1 &&
               msg.delta().upserted(0).wireguard_public_key() == fresh &&
               msg.delta().upserted(0).key_version() > before.key_version;
    }));
    CHECK(read_until(live, [&](const v1::SyncResponse& msg) {
        return msg.has_delta() && msg.delta().has_self() &&
               msg.delta().self().wireguard_public_key() == fresh;
    }));
    auto after = *s.store.node(ja.node_id());
    CHECK(after.id == before.id);
    CHECK(after.ipv4 == before.ipv4);
    CHECK(after.key_expires_at == before.key_expires_at + 100);
    sa.ctx.TryCancel();
    sb.ctx.TryCancel();
    live.ctx.TryCancel();
}

TEST_CASE(
    "Expiry: a lapsed key leaves the peer's map, its hello is PERMISSION_DENIED, a "
    "re-join brings it back in place") {
    Server s({.node_key_ttl = 60});
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    s.now += 30;
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    SyncStream sb(s, b, jb.node_id());
    REQUIRE(sb.full.peers_size() == 1);

    s.now += 31;  // a's key lapsed, b's has 29 s left
    auto connected = [&](const std::string& id) { return s.hub.connected(id); };
    auto reaped = s.registry.reap(connected, 0);
    CHECK(reaped.expired == std::vector<std::string>{ja.node_id()});
    CHECK(
        read_until(sb, [&](const v1::SyncResponse& m) { return lists_removed(m, ja.node_id()); }));
    CHECK(sync_status(s, [&](const std::string& c) {
              return hello(a, ja.node_id(), c);
          }).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.registry.reap(connected, 0).expired.empty());  // once

    v1::JoinResponse again;
    REQUIRE(s.join(join_request(a, token, "a"), &again).ok());
    CHECK(again.node_id() == ja.node_id());
    CHECK(again.addresses(0) == ja.addresses(0));
    CHECK(read_until(sb, [&](const v1::SyncResponse& m) {
        return m.has_delta() && m.delta().upserted_size() == 1 &&
               m.delta().upserted(0).node_id() == ja.node_id();
    }));

    // The operator expiring b: b's own stream is told in-band.
    s.registry.expire_node("b");
    CHECK(
        read_until(sb, [&](const v1::SyncResponse& m) { return lists_removed(m, jb.node_id()); }));
}

TEST_CASE("Ephemeral nodes are removed after inactivity, never while connected") {
    Server s({.ephemeral_inactivity = 60});
    auto ephemeral = s.registry.create_token(token_params(3600, true, 0, {}, true)).text;
    auto regular = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine e1, e2, r;
    v1::JoinResponse j1, j2, jr;
    REQUIRE(s.join(join_request(e1, ephemeral, "e1"), &j1).ok());
    REQUIRE(s.join(join_request(e2, ephemeral, "e2"), &j2).ok());
    REQUIRE(s.join(join_request(r, regular, "r"), &jr).ok());
    CHECK(j1.ephemeral());
    CHECK_FALSE(jr.ephemeral());
    SyncStream connected_stream(s, e2, j2.node_id());
    auto connected = [&](const std::string& id) { return s.hub.connected(id); };

    s.now += 59;
    CHECK(s.registry.reap(connected, 0).removed.empty());
    s.now += 2;
    CHECK(s.registry.reap(connected, 0).removed == std::vector<std::string>{j1.node_id()});
    CHECK_FALSE(s.store.node(j1.node_id()));
    CHECK(s.store.node(j2.node_id()));  // connected
    CHECK(s.store.node(jr.node_id()));  // not ephemeral
    // Offline since its stream closed (last_seen); a coordinator that was down does not count
    // its own downtime against the node: inactivity counts from when it serves again.
    connected_stream.ctx.TryCancel();
    connected_stream.finish();
    REQUIRE(eventually([&] { return !s.hub.connected(j2.node_id()); }));
    REQUIRE(eventually([&] { return s.registry.node(j2.node_id())->last_seen == s.now; }));
    s.now += 3600;
    CHECK(s.registry.reap(connected, s.now - 10).removed.empty());
    CHECK(s.registry.reap(connected, s.now - 61).removed == std::vector<std::string>{j2.node_id()});
}

TEST_CASE("A copy of the database lets its holder neither join nor act as a node") {
    auto dir = std::filesystem::temp_directory_path() / ("mesh-dbcopy-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    Server s({.database = (dir / "coordinator.db").string()});
    auto token = s.registry.create_token(token_params(3600, true, 0));
    auto credential = s.registry.create_operator_credential();
    Machine m;
    v1::JoinResponse joined;
    REQUIRE(s.join(join_request(m, token.text, "a"), &joined).ok());
    s.store.transaction([] {});  // the WAL holds the writes; the copy takes both files
    std::filesystem::copy(dir / "coordinator.db", dir / "copy.db");
    if (std::filesystem::exists(dir / "coordinator.db-wal")) {
        std::filesystem::copy(dir / "coordinator.db-wal", dir / "copy.db-wal");
    }

    // No secret is in it: the token's and the credential's secret halves appear nowhere.
    std::string bytes = kb::read_file((dir / "copy.db").string());
    if (std::filesystem::exists(dir / "copy.db-wal"))
        bytes += kb::read_file((dir / "copy.db-wal").string());
    const auto token_secret = token.text.substr(token.text.rfind('_') + 1);
    const auto credential_secret = credential.substr(credential.rfind('_') + 1);
    CHECK(bytes.find(token_secret) == std::string::npos);
    CHECK(bytes.find(credential_secret) == std::string::npos);
    CHECK(bytes.find(token.record.id) != std::string::npos);  // the control: the copy is real

    SqliteStore copy((dir / "copy.db").string());
    StateSnapshot before(s.store);
    for (const auto& t : copy.tokens()) {
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, t.hash.data(), t.hash.size());
        Machine thief;
        // The stored hash in place of the secret.
        auto guess = "mesh1_" + t.id + "_" + std::string(hex).substr(0, 48);
        CHECK(s.join(join_request(thief, guess, "thief")).error_code() ==
              grpc::StatusCode::UNAUTHENTICATED);
    }
    auto stored_credential = copy.meta("operator_credential");
    REQUIRE(stored_credential);
    auto id = stored_credential->substr(0, stored_credential->find(':'));
    auto hash_hex = stored_credential->substr(stored_credential->find(':') + 1);
    CHECK(remote_list(s, "Bearer mesh-op1_" + id + "_" + hash_hex.substr(0, 48)) ==
          grpc::StatusCode::UNAUTHENTICATED);
    for (const auto& n : copy.nodes()) {
        // Everything stored about the node, but not its private machine key.
        Machine thief;
        std::memcpy(thief.pk, n.machine_key.bytes.data(), 32);
        CHECK(sync_status(s, [&](const std::string& c) {
                  return hello(thief, n.id, c);
              }).error_code() == grpc::StatusCode::UNAUTHENTICATED);
        // Re-joining as the node (a join is idempotent per machine key) with a valid token and
        // its public machine key: the thief cannot sign for that key.
        auto as_node = join_request(thief, token.text, "a");
        CHECK(s.join(as_node).error_code() == grpc::StatusCode::UNAUTHENTICATED);
        as_node.clear_machine_signature();
        CHECK(s.join(as_node).error_code() == grpc::StatusCode::UNAUTHENTICATED);
        as_node.set_machine_signature(std::string(64, '\0'));
        CHECK(s.join(as_node).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    }
    CHECK(StateSnapshot(s.store) == before);
    std::filesystem::remove_all(dir);
}
