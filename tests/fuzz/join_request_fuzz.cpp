// A Join request as the coordinator validates it: arbitrary bytes -> mesh.v1.JoinRequest ->
// the same conversions and checks, in the same order, as CoordinatorService::admit and
// Registry::join run before they touch the store (keys, endpoints, the container subnet request,
// the all-zero key, hostname, token, the machine key's signature over token and WireGuard key,
// then the token check and the unique hostname). Every refusal must be a mesh::coord::StatusError
// (the gRPC layer maps it to the documented status; a plain mesh::Error would surface as
// UNAVAILABLE "storage error"), so only StatusError is caught. The seeds are signed by the machine
// key of tests/fuzz/service_fixture.hpp's web; a signature verifies only if it is that key's own
// over the request's token and key (anything else would be a forgery). service_requests_fuzz runs
// the real handlers against a store; this one is the cheap, fast half. The generated protobuf code
// is not instrumented; our conversions are.
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "coordinator/container_subnets.hpp"
#include "coordinator/convert.hpp"
#include "coordinator/endpoint_policy.hpp"
#include "coordinator/hostname.hpp"
#include "coordinator/machine_proof.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/token.hpp"
#include "mesh/v1/coordinator.pb.h"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/service_fixture.hpp"

using namespace mesh::coord;

namespace {

constexpr std::string_view kToken =
    "mesh1_0123456789abcdef_00112233445566778899aabbccddeeff0011223344556677";
constexpr std::int64_t kNow = 1'800'000'000;

bool valid_hostname(const std::string& h) {
    if (h.empty() || h.size() > 63 || h.front() == '-' || h.back() == '-') return false;
    for (char c : h) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

void validate(const mesh::v1::JoinRequest& request) {
    static const TokenRecord record = [] {
        TokenRecord r;
        r.id = "0123456789abcdef";
        r.hash = hash_token_secret(kToken.substr(kToken.size() - 48));
        r.expires_at = kNow + 3600;
        r.reusable = true;
        r.max_uses = 10;
        r.uses = 3;
        return r;
    }();
    static const std::set<std::string> taken = {"web", "web-2", "db", std::string(63, 'a'),
                                                std::string(61, 'a') + "-2"};

    auto wireguard_key = key_from_bytes(request.wireguard_public_key(), "wireguard_public_key");
    auto machine_key = key_from_bytes(request.machine_public_key(), "machine_public_key");
    auto as_bytes = [](const Key& k) {
        return std::string(reinterpret_cast<const char*>(k.bytes.data()), k.bytes.size());
    };
    FUZZ_CHECK(as_bytes(wireguard_key) == request.wireguard_public_key());
    FUZZ_CHECK(as_bytes(machine_key) == request.machine_public_key());

    static const NetworkConfig network = [] {
        NetworkConfig n;
        n.ipv6_prefix = IpPrefix::parse("fd7a:115c:a1e0::/48");
        return n;
    }();
    auto endpoints = endpoints_from_proto(request.endpoints(), network);
    FUZZ_CHECK(endpoints.size() <= static_cast<std::size_t>(request.endpoints_size()));
    FUZZ_CHECK(endpoints.size() <= kMaxEndpoints);
    for (const auto& e : endpoints) {
        FUZZ_CHECK(Endpoint::parse(e.to_string()) == e);
        FUZZ_CHECK(!endpoint_refusal(e, network));  // only endpoints peers may be sent to
        FUZZ_CHECK(std::count(endpoints.begin(), endpoints.end(), e) == 1);
    }

    const auto container = parse_container_request(request.container_subnet());
    if (container.kind == ContainerRequest::Kind::prefix) {
        FUZZ_CHECK(container.prefix.masked() == container.prefix);
        FUZZ_CHECK(IpPrefix::parse(container.prefix.to_string()) == container.prefix);
        FUZZ_CHECK(container.prefix.length <= container.prefix.address.max_prefix());
    }

    if (wireguard_key.is_zero()) {
        throw StatusError(Code::invalid_argument, "the WireGuard public key is all zeros");
    }
    const std::string hostname = normalize_hostname(request.hostname());
    FUZZ_CHECK(valid_hostname(hostname));
    FUZZ_CHECK(normalize_hostname(hostname) == hostname);

    const TokenText presented = parse_token(request.token());
    verify_machine_signature(
        machine_key, request.machine_signature(),
        mesh::v1::join_proof_message(mesh::fuzz_fixture::kCoordinatorFingerprint, request.token(),
                                     as_bytes(wireguard_key)),
        "the join's machine_signature");
    static const mesh::fuzz_fixture::MachineKey signer(mesh::fuzz_fixture::kWeb);
    FUZZ_CHECK(request.machine_public_key() == signer.public_bytes());
    FUZZ_CHECK(request.machine_signature() ==
               signer.sign_join(request.token(), request.wireguard_public_key()));
    if (presented.id == record.id) {
        check_token(record, presented, kNow);
        FUZZ_CHECK(request.token() == kToken);
    }
    auto unique = unique_hostname(hostname, [](const std::string& h) { return taken.contains(h); });
    FUZZ_CHECK(valid_hostname(unique));
    FUZZ_CHECK(!taken.contains(unique));
}

}  // namespace

// Quiet protobuf's "invalid UTF-8" complaints: a refused parse is an expected outcome here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    mesh::v1::JoinRequest request;
    if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
    try {
        validate(request);
    } catch (const StatusError& e) {
        FUZZ_CHECK(e.code() == Code::invalid_argument || e.code() == Code::unauthenticated ||
                   e.code() == Code::permission_denied);
    }
    return 0;
}
