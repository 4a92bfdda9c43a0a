// The text an agent, an operator or a join command brings for authorization, each input fed to
// every parser of it:
//  - proto/tls_pin.cpp parse_fingerprint (the pin in a join command or the agent's state file)
//    and fingerprint_of_pem (the certificate a server presents, through OpenSSL, which is linked
//    uninstrumented): they refuse only with mesh::Error; what they return is canonical
//    ("sha256:" + 64 lowercase hex digits) and parses back to itself; a parsed fingerprint is the
//    input's hex digits, lowercased, colons dropped; the first certificate decides, whatever
//    follows it.
//  - coordinator/token.cpp parse_operator_credential, looks_like_join_token and
//    check_operator_credential (the admin port's bearer credential): refusals are
//    StatusError(unauthenticated); what parses is exactly "mesh-op1_" id "_" secret; a join token
//    is never an operator credential; a credential passes against its own record, never against
//    another's, a missing one, or a damaged one; looks_like_join_token says what parse_token
//    says.
//  - coordinator/tags.cpp normalize_tags, on the input split at ',' (the operator's --tag
//    values): refusals are StatusError(invalid_argument) only; the result is sorted, unique,
//    valid (so never a ',', which the store uses to join them), idempotent, independent of the
//    order and repetition of its input, and is exactly the lowercased input tags.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/status_error.hpp"
#include "coordinator/tags.hpp"
#include "coordinator/token.hpp"
#include "proto/tls_pin.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::coord;
using mesh::Error;

namespace {

// The operator credential of the seed corpus (tests/fuzz/corpus/credentials/operator).
constexpr std::string_view kOperator =
    "mesh-op1_fedcba9876543210_0123456789abcdef0123456789abcdef0123456789abcdef";

bool canonical_fingerprint(const std::string& f) {
    if (f.size() != 7 + 64 || f.compare(0, 7, "sha256:") != 0) return false;
    return std::all_of(f.begin() + 7, f.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

void fingerprints(std::string_view text) {
    std::optional<std::string> parsed;
    try {
        parsed = mesh::tls::parse_fingerprint(text);
    } catch (const Error&) {
    }
    if (parsed) {
        FUZZ_CHECK(canonical_fingerprint(*parsed));
        FUZZ_CHECK(mesh::tls::parse_fingerprint(*parsed) == *parsed);
        FUZZ_CHECK(text.size() <= 200);
        // The input is "sha256:" in either case, then hex digits in either case and colons.
        FUZZ_CHECK(text.size() >= 7);
        std::string expected = "sha256:";
        for (std::size_t i = 0; i < 7; ++i) FUZZ_CHECK(lower(text[i]) == expected[i]);
        for (char c : text.substr(7)) {
            if (c != ':') expected += lower(c);
        }
        FUZZ_CHECK(expected == *parsed);
        std::string upper(*parsed);
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](char c) { return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c; });
        FUZZ_CHECK(mesh::tls::parse_fingerprint(upper) == *parsed);
    }

    std::optional<std::string> of_pem;
    try {
        of_pem = mesh::tls::fingerprint_of_pem(text);
    } catch (const Error&) {
    }
    if (of_pem) {
        FUZZ_CHECK(canonical_fingerprint(*of_pem));
        FUZZ_CHECK(mesh::tls::parse_fingerprint(*of_pem) == *of_pem);
        std::string more(text);
        more += "\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        FUZZ_CHECK(mesh::tls::fingerprint_of_pem(more) == *of_pem);
    }
}

// True when the credential passed; a refusal is unauthenticated.
bool operator_passes(const std::optional<std::string>& stored, const TokenText& presented) {
    try {
        check_operator_credential(stored, presented);
        return true;
    } catch (const StatusError& e) {
        FUZZ_CHECK(e.code() == Code::unauthenticated);
        return false;
    }
}

void credentials(std::string_view text) {
    static const TokenText real = parse_operator_credential(kOperator);
    static const std::string real_record =
        encode_credential_record(real.id, hash_token_secret(real.secret));

    bool join_token = false;
    try {
        TokenText t = parse_token(text);
        join_token = true;
        FUZZ_CHECK("mesh1_" + t.id + "_" + t.secret == text);
    } catch (const StatusError& e) {
        FUZZ_CHECK(e.code() == Code::unauthenticated);
    }
    FUZZ_CHECK(looks_like_join_token(text) == join_token);

    TokenText presented;
    try {
        presented = parse_operator_credential(text);
    } catch (const StatusError& e) {
        FUZZ_CHECK(e.code() == Code::unauthenticated);
        return;
    }
    FUZZ_CHECK(!join_token);
    FUZZ_CHECK("mesh-op1_" + presented.id + "_" + presented.secret == text);
    FUZZ_CHECK(presented.id.size() == 16 && presented.secret.size() == 48);
    auto hex = [](const std::string& s) {
        return std::all_of(s.begin(), s.end(),
                           [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    };
    FUZZ_CHECK(hex(presented.id) && hex(presented.secret));

    FUZZ_CHECK(operator_passes(real_record, presented) == (text == kOperator));
    FUZZ_CHECK(!operator_passes(std::nullopt, presented));
    FUZZ_CHECK(!operator_passes(std::string(), presented));
    const std::string own =
        encode_credential_record(presented.id, hash_token_secret(presented.secret));
    FUZZ_CHECK(own.size() == 16 + 1 + 64);
    FUZZ_CHECK(operator_passes(own, presented));
    FUZZ_CHECK(!operator_passes(own.substr(0, own.size() - 1), presented));
    FUZZ_CHECK(!operator_passes(own + "0", presented));
    std::string damaged = own;
    damaged.back() = damaged.back() == '0' ? '1' : '0';
    FUZZ_CHECK(!operator_passes(damaged, presented));
    // Another credential's id with this secret's hash: the id is part of the record.
    std::string other_id = own;
    other_id[0] = other_id[0] == '0' ? '1' : '0';
    FUZZ_CHECK(!operator_passes(other_id, presented));
}

void tags(std::string_view text) {
    std::vector<std::string> in;
    if (!text.empty()) {
        std::size_t start = 0;
        while (true) {
            auto comma = text.find(',', start);
            in.emplace_back(text.substr(
                start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
    }
    std::vector<std::string> out;
    try {
        out = normalize_tags(in);
    } catch (const StatusError& e) {
        FUZZ_CHECK(e.code() == Code::invalid_argument);
        return;
    }
    FUZZ_CHECK(in.size() <= kMaxTags);
    FUZZ_CHECK(std::is_sorted(out.begin(), out.end()));
    FUZZ_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end());
    std::set<std::string> lowered;
    for (auto t : in) {
        std::transform(t.begin(), t.end(), t.begin(), lower);
        lowered.insert(t);
    }
    FUZZ_CHECK(std::vector<std::string>(lowered.begin(), lowered.end()) == out);
    for (const auto& t : out) {
        FUZZ_CHECK(!t.empty() && t.size() <= 63 && t.front() != '-' && t.back() != '-');
        FUZZ_CHECK(std::all_of(t.begin(), t.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        }));
    }
    FUZZ_CHECK(normalize_tags(out) == out);
    std::vector<std::string> shuffled(in.rbegin(), in.rend());
    if (!in.empty() && in.size() < kMaxTags) shuffled.push_back(in.front());
    FUZZ_CHECK(normalize_tags(shuffled) == out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    fingerprints(text);
    credentials(text);
    tags(text);
    return 0;
}
