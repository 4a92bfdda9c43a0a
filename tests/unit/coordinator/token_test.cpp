#include <catch2/catch.hpp>

#include "tests/unit/support/test_support.hpp"

#include "coordinator/status_error.hpp"
#include "coordinator/token.hpp"

using namespace mesh::coord;
inline Code code_of(const std::function<void()>& fn) {
    return mesh::test::code_of<StatusError>(fn);
}

TEST_CASE("a generated token parses and checks") {
    auto t = generate_token(1000, 3600, false, 0);
    auto text = parse_token(t.text);
    CHECK(text.id == t.record.id);
    CHECK_NOTHROW(check_token(t.record, text, 1001));
    CHECK(t.record.max_uses == 1);
    CHECK(t.record.expires_at == 4600);
    // Only the hash is kept: the secret is not in the record.
    CHECK(t.text.find(std::string(t.record.hash.begin(), t.record.hash.end())) ==
          std::string::npos);
}

TEST_CASE("malformed tokens are unauthenticated") {
    auto t = generate_token(0, 10, false, 0);
    CHECK(code_of([&] { parse_token(""); }) == Code::unauthenticated);
    CHECK(code_of([&] { parse_token(t.text + "0"); }) == Code::unauthenticated);
    CHECK(code_of([&] { parse_token(t.text.substr(1)); }) == Code::unauthenticated);
    std::string upper = t.text;
    upper.back() = 'G';
    CHECK(code_of([&] { parse_token(upper); }) == Code::unauthenticated);
}

TEST_CASE("token checks: wrong secret, expiry, usage, revocation") {
    auto t = generate_token(1000, 100, true, 2);
    auto text = parse_token(t.text);
    auto wrong = text;
    wrong.secret[0] = wrong.secret[0] == 'a' ? 'b' : 'a';
    CHECK(code_of([&] { check_token(t.record, wrong, 1000); }) == Code::unauthenticated);
    CHECK(code_of([&] { check_token(t.record, text, 1100); }) == Code::permission_denied);
    auto used = t.record;
    used.uses = 2;
    CHECK(code_of([&] { check_token(used, text, 1000); }) == Code::permission_denied);
    auto revoked = t.record;
    revoked.revoked = true;
    CHECK(code_of([&] { check_token(revoked, text, 1000); }) == Code::permission_denied);
    auto unlimited = generate_token(1000, 100, true, 0);
    unlimited.record.uses = 1000;
    CHECK_NOTHROW(check_token(unlimited.record, parse_token(unlimited.text), 1000));
}

TEST_CASE("expiry message names the time and a next step") {
    auto t = generate_token(0, 60, false, 0);
    try {
        check_token(t.record, parse_token(t.text), 120);
        FAIL("not expired?");
    } catch (const StatusError& e) {
        CHECK(std::string(e.what()).find("1970-01-01 00:01 UTC") != std::string::npos);
        CHECK(std::string(e.what()).find("ask the operator") != std::string::npos);
    }
}
