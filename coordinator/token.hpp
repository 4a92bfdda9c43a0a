#pragma once
// Join tokens: "mesh1_<id: 16 hex>_<secret: 48 hex>". The id is public (for lookup, listing and
// revoking); only a BLAKE2b hash of the secret is stored, and it is compared in constant time.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "coordinator/model.hpp"
#include "coordinator/status_error.hpp"

namespace mesh::coord {

struct TokenText {
    std::string id;
    std::string secret;
};

// A join token that does not grant a join, and why (joins are counted by reason): unknown
// (malformed, or no such id, or a wrong secret: unauthenticated), revoked, expired or used up
// (permission_denied).
class TokenRefused : public StatusError {
  public:
    enum class Reason { unknown, revoked, expired, used_up };
    TokenRefused(Reason reason, const std::string& message)
        : StatusError(reason == Reason::unknown ? Code::unauthenticated : Code::permission_denied,
                      message),
          reason_(reason) {}
    Reason reason() const { return reason_; }

  private:
    Reason reason_;
};

struct NewToken {
    std::string text;  // shown to the operator once
    TokenRecord record;
};

// Makes a fresh token with random id and secret.
NewToken generate_token(std::int64_t now, std::int64_t ttl_seconds, bool reusable,
                        std::uint32_t max_uses);

// Splits a token's text; throws TokenRefused(unknown) when it is not well-formed.
TokenText parse_token(std::string_view text);

std::array<std::uint8_t, 32> hash_token_secret(std::string_view secret);

// Whether text has a join token's shape (to tell a node's secret from an operator's).
bool looks_like_join_token(std::string_view text);

// The operator credential for the TLS admin port: "mesh-op1_<id: 16 hex>_<secret: 48 hex>".
// One at a time; the store keeps "<id>:<hex BLAKE2b of the secret>" under meta key
// "operator_credential".
struct NewOperatorCredential {
    std::string text;  // shown once
    std::string id;
    std::array<std::uint8_t, 32> hash{};
};
NewOperatorCredential generate_operator_credential();
// Throws StatusError(unauthenticated) when it is not well-formed.
TokenText parse_operator_credential(std::string_view text);
std::string encode_credential_record(const std::string& id,
                                     const std::array<std::uint8_t, 32>& hash);
// Throws StatusError(unauthenticated) unless presented matches the stored record.
void check_operator_credential(const std::optional<std::string>& stored,
                               const TokenText& presented);

// Throws TokenRefused with the reason and a next step when the token does not grant a join now.
void check_token(const TokenRecord& record, const TokenText& presented, std::int64_t now);

std::string format_utc(std::int64_t unix_seconds);  // "2026-11-20 10:00 UTC"

}  // namespace mesh::coord
