// The pure parts of meshctl logout: when the agent clears the host after the coordinator's answer,
// what it says when it does not, meshctl's line, and the state directory left with nothing of the
// node (so the next join is a new node under fresh keys).
#include <sodium.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "agent/keys.hpp"
#include "agent/logout.hpp"
#include "agent/state.hpp"

using namespace mesh::agent;
using Code = grpc::StatusCode;

TEST_CASE("logout clears the host when the coordinator removed the node or knew it no longer") {
    for (bool force : {false, true}) {
        auto ok = decide_logout(std::nullopt, force);
        CHECK(ok.clear);
        CHECK(ok.removed);
        auto gone = decide_logout(Code::NOT_FOUND, force);
        CHECK(gone.clear);
        CHECK(gone.removed);
    }
}

TEST_CASE("logout keeps everything when the coordinator is unreachable or refuses, unless forced") {
    for (auto code : {Code::UNAVAILABLE, Code::DEADLINE_EXCEEDED, Code::UNAUTHENTICATED,
                      Code::PERMISSION_DENIED, Code::INTERNAL}) {
        auto kept = decide_logout(code, false);
        CHECK_FALSE(kept.clear);
        CHECK_FALSE(kept.removed);
        auto forced = decide_logout(code, true);
        CHECK(forced.clear);
        CHECK_FALSE(forced.removed);  // the coordinator still has the node
    }
}

TEST_CASE("an unreachable coordinator is named as such and the way out too") {
    auto text = logout_refusal(Code::UNAVAILABLE, "cannot reach the coordinator at 192.0.2.1:7443");
    CHECK(text.find("unreachable") != std::string::npos);
    CHECK(text.find("192.0.2.1:7443") != std::string::npos);
    CHECK(text.find("nothing changed on this host") != std::string::npos);
    CHECK(text.find("--force") != std::string::npos);
    auto refused = logout_refusal(Code::UNAUTHENTICATED, "the leave's signature does not verify");
    CHECK(refused.find("refused") != std::string::npos);
    CHECK(refused.find("unreachable") == std::string::npos);
}

TEST_CASE("meshctl logout prints one line naming the node") {
    mesh::v1::LogoutResponse r;
    r.set_node_id("n-0123456789abcdef");
    r.set_hostname("web");
    r.set_removed(true);
    auto line = render_logout_line(r);
    CHECK(line.rfind("logged out: web (n-0123456789abcdef) removed from the mesh", 0) == 0);
    CHECK(std::count(line.begin(), line.end(), '\n') == 1);
    r.set_removed(false);
    r.set_coordinator_error("cannot reach the coordinator");
    line = render_logout_line(r);
    CHECK(line.find("without removing web (n-0123456789abcdef)") != std::string::npos);
    CHECK(line.find("nodes remove n-0123456789abcdef") != std::string::npos);
    CHECK(std::count(line.begin(), line.end(), '\n') == 1);
}

TEST_CASE("after logout the state directory holds no node and no keys") {
    REQUIRE(sodium_init() >= 0);
    char tmpl[] = "/tmp/mesh-logout-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    const std::string dir = tmpl;
    AgentState s;
    s.coordinators = {{"192.0.2.10:7443", "sha256:" + std::string(64, 'a')}};
    s.node_id = "n-0123456789abcdef";
    s.hostname = "web";
    save_state(dir, s);
    Keys::generate().save(dir);
    REQUIRE(load_state(dir));
    REQUIRE(Keys::load(dir));

    remove_state(dir);
    Keys::remove(dir);
    CHECK_FALSE(load_state(dir));
    CHECK_FALSE(Keys::load(dir, false));
    CHECK_FALSE(keys_reusable_for(load_state(dir), s.coordinators));  // a join makes fresh keys
    // Idempotent: nothing left to delete is fine.
    CHECK_NOTHROW(remove_state(dir));
    CHECK_NOTHROW(Keys::remove(dir));
    std::filesystem::remove_all(dir);
}
