// The security review's findings that live in the coordinator's RPCs (docs/SECURITY.md, the
// table of findings), each over real gRPC and TLS on loopback: a key past its expiry before the
// reaper marked it (2), proofs made for another coordinator (3), untrusted text in statuses and
// logs (7). Each case fails on the commit the review read (48b8ca2).
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "coordinator/status_error.hpp"
#include "rpc_harness.hpp"
#include "tests/unit/support/test_support.hpp"

using namespace rpc_harness;

namespace {

// Everything the process logs while it lives, for checks on what reached the log.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
        auto logger = std::make_shared<spdlog::logger>("capture", sink);
        logger->set_level(spdlog::level::trace);
        logger->flush_on(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::string text() {
        spdlog::default_logger()->flush();
        return text_.str();
    }

  private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream text_;
};

// Every line the capture holds starts the way spdlog starts its lines: nothing in it made a line
// of its own.
bool every_line_is_spdlogs(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("[20", 0) != 0 || line.find("] [capture] [") == std::string::npos) {
            return false;
        }
    }
    return true;
}

bool has_control_bytes(const std::string& text) {
    for (unsigned char c : text) {
        if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
    }
    return false;
}

v1::SyncRequest rotate(const std::string& key) {
    v1::SyncRequest r;
    r.mutable_rotate_key()->set_wireguard_public_key(key);
    return r;
}

const std::string kForged = "\n[2026-12-02 02:00:00.000] [info] event=node_removed node=n-1";

}  // namespace

TEST_CASE("security 2: a key past its expiry is refused before the reaper marks it") {
    Server s({.node_key_ttl = 60});
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a;
    v1::JoinResponse ja;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    s.now += 61;  // lapsed; no reaper pass has run (as right after a coordinator start)
    REQUIRE_FALSE(s.store.node(ja.node_id())->expired);

    CHECK(sync_status(s, [&](const std::string& c) {
              return hello(a, ja.node_id(), c);
          }).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(mesh::test::code_of<mesh::coord::StatusError>([&] {
              s.registry.rotate_key(ja.node_id(), mesh::test::key_of(0x42));
          }) == mesh::coord::Code::permission_denied);
    CHECK(mesh::test::code_of<mesh::coord::StatusError>([&] {
              s.registry.update_endpoints(ja.node_id(), {Endpoint::parse("192.0.2.9:51820")});
          }) == mesh::coord::Code::permission_denied);
    CHECK(s.store.node(ja.node_id())->key_expires_at == ja.key_expires_at());  // not renewed
}

TEST_CASE(
    "security 2: a lapsed node that rotates in its first second after a start stays expired") {
    Server s({.node_key_ttl = 60});
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a;
    v1::JoinResponse ja;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    SyncStream stream(s, a, ja.node_id());
    s.now += 61;
    // The review's exploit: the stream is open, the reaper has not run, rotate for a fresh TTL.
    REQUIRE(stream.rw->Write(rotate(std::string(32, '\x42'))));
    CHECK(stream.finish().error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(s.store.node(ja.node_id())->key_expires_at == ja.key_expires_at());
}

TEST_CASE("security 3: a hello or a join signed for another coordinator is refused (relay)") {
    Server a;  // the mesh the host belongs to
    const std::string fingerprint_a = a.tls.fingerprint;
    auto token = a.registry.create_token(token_params(3600, true, 0)).text;
    Machine host;
    v1::JoinResponse joined;
    REQUIRE(a.join(join_request(host, token, "h"), &joined).ok());
    const std::string rogue = make_self_signed_identity().fingerprint;  // coordinator B

    // B opens a Sync to A, hands A's challenge to the host as its own, and relays the answer:
    // the host signs for the coordinator it pinned, B.
    auto relayed = [&](const std::string& challenge) {
        v1::SyncRequest r;
        r.mutable_hello()->set_node_id(joined.node_id());
        r.mutable_hello()->set_signature(
            host.sign(v1::sync_proof_message(rogue, joined.node_id(), challenge)));
        return r;
    };
    CHECK(sync_status(a, relayed).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    // The old proof, with no coordinator in it, does not verify either.
    auto unbound = [&](const std::string& challenge) {
        v1::SyncRequest r;
        r.mutable_hello()->set_node_id(joined.node_id());
        r.mutable_hello()->set_signature(
            host.sign("mesh-sync-v2\n" + joined.node_id() + "\n" + challenge));
        return r;
    };
    CHECK(sync_status(a, unbound).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    // A join made out for B, replayed at A.
    auto join_for_b = join_request(host, token, "h");
    join_for_b.set_machine_signature(host.sign(v1::join_proof_message(rogue, token, host.wg_key)));
    CHECK(a.join(join_for_b).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    // The same, signed for A, is accepted: the refusals above are about the coordinator only.
    CHECK(sync_status(a, [&](const std::string& c) {
              return hello(host, joined.node_id(), c);
          }).error_code() != grpc::StatusCode::UNAUTHENTICATED);
    CHECK(proof_fingerprint() == fingerprint_a);
}

TEST_CASE("security 7: nothing unauthenticated is echoed into a status or forges a log line") {
    LogCapture log;  // outlives the server: its threads log until it is gone
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine m;
    // A hello for a node that does not exist, its id carrying a forged log line.
    auto status =
        sync_status(s, [&](const std::string& c) { return hello(m, "x\"" + kForged, c); });
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(status.error_message().find("node_removed") == std::string::npos);
    // A join whose endpoint carries a forged line and a terminal escape, before any token check.
    auto join = join_request(m, "mesh1_not-a-token", "h");
    join.add_endpoints("192.0.2.1:1" + kForged + "\x1b[31m");
    auto refused = s.join(join);
    CHECK(refused.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(refused.error_message().find("node_removed") == std::string::npos);
    CHECK(refused.error_message().find('\n') == std::string::npos);
    // An authenticated one: escaped in its status, not echoed raw.
    v1::JoinResponse joined;
    REQUIRE(s.join(join_request(m, token, "h"), &joined).ok());
    SyncStream stream(s, m, joined.node_id());
    v1::SyncRequest report;
    report.mutable_endpoints()->add_endpoints("192.0.2.1:1" + kForged);
    REQUIRE(stream.rw->Write(report));
    auto ended = stream.finish();
    CHECK(ended.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(ended.error_message().find('\n') == std::string::npos);

    auto text = log.text();
    CHECK_FALSE(text.empty());
    CHECK(every_line_is_spdlogs(text));
    CHECK_FALSE(has_control_bytes(text));
    CHECK(text.find("[info] event=node_removed") == std::string::npos);
}

TEST_CASE("security 7: path report ids that are not peers are dropped, and not logged") {
    LogCapture log;  // outlives the server: its threads log until it is gone
    Server s;
    auto token = s.registry.create_token(token_params(3600, true, 0)).text;
    Machine a, b;
    v1::JoinResponse ja, jb;
    REQUIRE(s.join(join_request(a, token, "a"), &ja).ok());
    REQUIRE(s.join(join_request(b, token, "b"), &jb).ok());
    SyncStream stream(s, a, ja.node_id());
    auto report = path_report(v1::NAT_NONE, "");
    add_path(report, jb.node_id(), v1::PATH_NONE);
    for (int i = 0; i < 4000; ++i) {
        add_path(report, "fake-" + std::to_string(i) + "\x1b[31mred", v1::PATH_NONE);
    }
    add_path(report, ja.node_id(), v1::PATH_NONE);  // itself: not a peer either
    REQUIRE(stream.rw->Write(report));
    REQUIRE(eventually([&] { return s.hub.paths(ja.node_id()).has_value(); }));
    auto kept = s.hub.paths(ja.node_id());
    REQUIRE(kept->peers.size() == 1);
    CHECK(kept->peers[0].node_id == jb.node_id());
    auto text = log.text();
    CHECK(text.find("fake-") == std::string::npos);
    CHECK(text.find("event=no_direct_path node=" + ja.node_id() + " peer=" + jb.node_id()) !=
          std::string::npos);
}
