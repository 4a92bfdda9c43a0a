// Feeds arbitrary text to the join-token parser, then checks what parses against fixed token
// records (valid, revoked, expired, used up). Both may reject input only by throwing
// mesh::coord::StatusError with the code the contract names (unauthenticated for a malformed or
// unknown token, permission_denied for a known one that grants nothing) and a next step;
// anything else is a bug. Of the tokens with a record's id, only the real one may pass.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "coordinator/status_error.hpp"
#include "coordinator/token.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::coord;

namespace {

// The token of the seed corpus (tests/fuzz/corpus/token/valid).
constexpr std::string_view kToken =
    "mesh1_0123456789abcdef_00112233445566778899aabbccddeeff0011223344556677";
constexpr std::int64_t kNow = 1'800'000'000;

TokenRecord record(std::int64_t expires_at, std::uint32_t max_uses, std::uint32_t uses,
                   bool revoked) {
    TokenRecord r;
    r.id = "0123456789abcdef";
    r.hash = hash_token_secret(kToken.substr(kToken.size() - 48));
    r.created_at = kNow - 60;
    r.expires_at = expires_at;
    r.reusable = max_uses != 1;
    r.max_uses = max_uses;
    r.uses = uses;
    r.revoked = revoked;
    return r;
}

// True when the check passed; a refusal must carry one of the codes the contract names.
bool grants(const TokenRecord& r, const TokenText& t) {
    try {
        check_token(r, t, kNow);
        return true;
    } catch (const StatusError& e) {
        FUZZ_CHECK(e.code() == Code::unauthenticated || e.code() == Code::permission_denied);
        FUZZ_CHECK(std::string_view(e.what()).find("ask the operator") != std::string_view::npos);
        return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const TokenRecord valid = record(kNow + 3600, 1, 0, false);
    static const TokenRecord unlimited = record(kNow + 1, 0, 1'000'000, false);
    static const TokenRecord revoked = record(kNow + 3600, 1, 0, true);
    static const TokenRecord expired = record(kNow, 5, 0, false);
    static const TokenRecord used_up = record(kNow + 3600, 5, 5, false);
    static const TokenRecord far_past = record(INT64_MIN, 0, 0, false);

    std::string_view text(reinterpret_cast<const char*>(data), size);
    TokenText t;
    try {
        t = parse_token(text);
    } catch (const StatusError& e) {
        FUZZ_CHECK(e.code() == Code::unauthenticated);
        return 0;
    }
    // What parses is exactly "mesh1_" id "_" secret, in lowercase hex.
    FUZZ_CHECK("mesh1_" + t.id + "_" + t.secret == text);
    FUZZ_CHECK(t.id.size() == 16 && t.secret.size() == 48);

    // The registry looks the record up by the token's id: another id is an unknown token.
    if (t.id != valid.id) return 0;
    bool ok = grants(valid, t);
    FUZZ_CHECK(ok == (text == kToken));
    FUZZ_CHECK(grants(unlimited, t) == ok);
    FUZZ_CHECK(!grants(revoked, t));
    FUZZ_CHECK(!grants(expired, t));
    FUZZ_CHECK(!grants(used_up, t));
    FUZZ_CHECK(!grants(far_past, t));
    return 0;
}
