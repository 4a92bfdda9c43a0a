#include "coordinator/token.hpp"

#include <sodium.h>

#include <ctime>
#include <optional>

#include "coordinator/status_error.hpp"

namespace mesh::coord {

namespace {

constexpr std::string_view kPrefix = "mesh1_";
constexpr std::string_view kOperatorPrefix = "mesh-op1_";
constexpr size_t kIdBytes = 8;
constexpr size_t kSecretBytes = 24;

std::string random_hex(size_t bytes) {
    std::string raw(bytes, '\0');
    randombytes_buf(raw.data(), raw.size());
    std::string hex(bytes * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                   raw.size());
    hex.pop_back();
    return hex;
}

bool is_lower_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

// "<prefix><id>_<secret>"; `what` names the secret in the errors.
std::optional<TokenText> split_secret(std::string_view text, std::string_view prefix) {
    const size_t expected = prefix.size() + kIdBytes * 2 + 1 + kSecretBytes * 2;
    if (text.size() != expected || text.substr(0, prefix.size()) != prefix ||
        text[prefix.size() + kIdBytes * 2] != '_') {
        return std::nullopt;
    }
    TokenText t;
    t.id = std::string(text.substr(prefix.size(), kIdBytes * 2));
    t.secret = std::string(text.substr(prefix.size() + kIdBytes * 2 + 1));
    if (!is_lower_hex(t.id) || !is_lower_hex(t.secret)) return std::nullopt;
    return t;
}

}  // namespace

NewToken generate_token(std::int64_t now, std::int64_t ttl_seconds, bool reusable,
                        std::uint32_t max_uses) {
    NewToken t;
    t.record.id = random_hex(kIdBytes);
    std::string secret = random_hex(kSecretBytes);
    t.record.hash = hash_token_secret(secret);
    t.record.created_at = now;
    t.record.expires_at = now + ttl_seconds;
    t.record.reusable = reusable;
    t.record.max_uses = reusable ? max_uses : 1;
    t.text = std::string(kPrefix) + t.record.id + "_" + secret;
    return t;
}

TokenText parse_token(std::string_view text) {
    auto t = split_secret(text, kPrefix);
    if (!t) {
        throw TokenRefused(
            TokenRefused::Reason::unknown,
            "the join token is malformed (expected mesh1_<16 hex>_<48 hex>); copy it "
            "again from `mesh-coordinator token create`");
    }
    return *t;
}

bool looks_like_join_token(std::string_view text) {
    return split_secret(text, kPrefix).has_value();
}

NewOperatorCredential generate_operator_credential() {
    NewOperatorCredential c;
    c.id = random_hex(kIdBytes);
    std::string secret = random_hex(kSecretBytes);
    c.hash = hash_token_secret(secret);
    c.text = std::string(kOperatorPrefix) + c.id + "_" + secret;
    return c;
}

TokenText parse_operator_credential(std::string_view text) {
    auto t = split_secret(text, kOperatorPrefix);
    if (!t) {
        throw StatusError(Code::unauthenticated,
                          "the operator credential is malformed (expected mesh-op1_<16 hex>_<48 "
                          "hex>); make one with `mesh-coordinator credential create`");
    }
    return *t;
}

std::string encode_credential_record(const std::string& id,
                                     const std::array<std::uint8_t, 32>& hash) {
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, hash.data(), hash.size());
    return id + ":" + hex;
}

void check_operator_credential(const std::optional<std::string>& stored,
                               const TokenText& presented) {
    auto hash = hash_token_secret(presented.secret);
    // Constant time over the hash; the id is public and compared only to pick the record.
    std::string expected = encode_credential_record(presented.id, hash);
    bool ok = stored && stored->size() == expected.size() &&
              sodium_memcmp(stored->data(), expected.data(), expected.size()) == 0;
    if (!ok) {
        throw StatusError(Code::unauthenticated,
                          "the operator credential is not the current one (replaced, or never "
                          "made); make one with `mesh-coordinator credential create`");
    }
}

std::array<std::uint8_t, 32> hash_token_secret(std::string_view secret) {
    std::array<std::uint8_t, 32> out{};
    crypto_generichash(out.data(), out.size(),
                       reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                       nullptr, 0);
    return out;
}

void check_token(const TokenRecord& record, const TokenText& presented, std::int64_t now) {
    auto hash = hash_token_secret(presented.secret);
    if (sodium_memcmp(hash.data(), record.hash.data(), hash.size()) != 0) {
        throw TokenRefused(TokenRefused::Reason::unknown,
                           "unknown join token; ask the operator for a new one");
    }
    if (record.revoked) {
        throw TokenRefused(
            TokenRefused::Reason::revoked,
            "join token " + record.id + " was revoked; ask the operator for a new one");
    }
    if (now >= record.expires_at) {
        throw TokenRefused(TokenRefused::Reason::expired,
                           "join token " + record.id + " expired at " +
                               format_utc(record.expires_at) + "; ask the operator for a new one");
    }
    if (record.max_uses != 0 && record.uses >= record.max_uses) {
        throw TokenRefused(
            TokenRefused::Reason::used_up,
            "join token " + record.id + " is used up (" + std::to_string(record.uses) + " of " +
                std::to_string(record.max_uses) + " uses); ask the operator for a new one");
    }
}

std::string format_utc(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

}  // namespace mesh::coord
