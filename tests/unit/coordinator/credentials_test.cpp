// The pure halves of the coordinator's authorization: tags, operator credentials, the pinned
// certificate's fingerprint, and the self-signed identity made on first start.
#include <sodium.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "coordinator/status_error.hpp"
#include "coordinator/tags.hpp"
#include "coordinator/tls_identity.hpp"
#include "coordinator/token.hpp"
#include "kmod-bridge/files.hpp"
#include "tls_pin.hpp"

using namespace mesh;
using namespace mesh::coord;

namespace {

template <class Fn>
std::optional<Code> code_of(Fn&& fn) {
    try {
        fn();
    } catch (const StatusError& e) {
        return e.code();
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("tags are lowercased, sorted, deduplicated and validated") {
    CHECK(normalize_tags({"Web", "db", "web"}) == std::vector<std::string>{"db", "web"});
    CHECK(normalize_tags({}).empty());
    CHECK(normalize_tags({"a-1"}) == std::vector<std::string>{"a-1"});
    for (const auto* bad : {"", "-a", "a-", "a b", "a_b", "é"}) {
        INFO(bad);
        CHECK(code_of([&] { normalize_tags({bad}); }) == Code::invalid_argument);
    }
    CHECK(code_of([] { normalize_tags({std::string(64, 'a')}); }) == Code::invalid_argument);
    CHECK_FALSE(code_of([] { normalize_tags({std::string(63, 'a')}); }));
    std::vector<std::string> seventeen;
    for (int i = 0; i < 17; ++i) seventeen.push_back("t" + std::to_string(i));
    CHECK(code_of([&] { normalize_tags(seventeen); }) == Code::invalid_argument);
}

TEST_CASE("operator credentials: shape, one current record, constant-time check") {
    REQUIRE(sodium_init() >= 0);
    auto c = generate_operator_credential();
    CHECK(c.text.rfind("mesh-op1_", 0) == 0);
    CHECK(c.text.size() == 9 + 16 + 1 + 48);
    auto parsed = parse_operator_credential(c.text);
    CHECK(parsed.id == c.id);
    auto stored = encode_credential_record(c.id, c.hash);
    CHECK_FALSE(code_of([&] { check_operator_credential(stored, parsed); }));
    auto other = generate_operator_credential();
    CHECK(code_of([&] {
              check_operator_credential(stored, parse_operator_credential(other.text));
          }) == Code::unauthenticated);
    CHECK(code_of([&] { check_operator_credential(std::nullopt, parsed); }) ==
          Code::unauthenticated);
    auto wrong = parsed;
    wrong.secret[0] = wrong.secret[0] == 'a' ? 'b' : 'a';
    CHECK(code_of([&] { check_operator_credential(stored, wrong); }) == Code::unauthenticated);
    CHECK(code_of([] {
              parse_operator_credential("mesh1_0123456789abcdef_" + std::string(48, 'a'));
          }) == Code::unauthenticated);
    CHECK(looks_like_join_token("mesh1_0123456789abcdef_" + std::string(48, 'a')));
    CHECK_FALSE(looks_like_join_token(c.text));
}

TEST_CASE("fingerprints: canonical form, openssl's colon form, clear errors") {
    const std::string hex(64, 'a');
    CHECK(tls::parse_fingerprint("sha256:" + hex) == "sha256:" + hex);
    std::string colons;
    for (int i = 0; i < 32; ++i) colons += (i ? ":" : "") + std::string("AA");
    CHECK(tls::parse_fingerprint("SHA256:" + colons) == "sha256:" + hex);
    CHECK_THROWS_WITH(tls::parse_fingerprint(hex), Catch::Contains("sha256:"));
    CHECK_THROWS_WITH(tls::parse_fingerprint("sha256:abc"), Catch::Contains("not 64"));
    CHECK_THROWS_WITH(tls::parse_fingerprint("sha256:" + std::string(63, 'a') + "g"),
                      Catch::Contains("not a hex digit"));
    CHECK_THROWS_AS(tls::fingerprint_of_pem("not a certificate"), Error);
}

TEST_CASE("the self-signed identity is made once and kept across starts") {
    auto dir = std::filesystem::temp_directory_path() / ("mesh-tls-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    auto first = load_or_create_tls_identity(dir.string(), "", "");
    CHECK(first.created);
    CHECK(first.fingerprint.rfind("sha256:", 0) == 0);
    CHECK((std::filesystem::status(dir / "tls" / "key.pem").permissions() &
           std::filesystem::perms::group_all) == std::filesystem::perms::none);
    auto again = load_or_create_tls_identity(dir.string(), "", "");
    CHECK_FALSE(again.created);
    CHECK(again.fingerprint == first.fingerprint);
    // Given files: both or neither, and the key must belong to the certificate.
    CHECK_THROWS_WITH(
        load_or_create_tls_identity(dir.string(), (dir / "tls/cert.pem").string(), ""),
        Catch::Contains("both"));
    auto other = make_self_signed_identity();
    kb::write_file_atomic((dir / "other.key").string(), other.key_pem, 0600);
    CHECK_THROWS_WITH(load_or_create_tls_identity(dir.string(), (dir / "tls/cert.pem").string(),
                                                  (dir / "other.key").string()),
                      Catch::Contains("does not belong"));
    auto given = load_or_create_tls_identity(dir.string(), (dir / "tls/cert.pem").string(),
                                             (dir / "tls/key.pem").string());
    CHECK(given.fingerprint == first.fingerprint);
    std::filesystem::remove_all(dir);
}
