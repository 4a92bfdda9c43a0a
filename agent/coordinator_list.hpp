#pragma once
// The coordinators an agent knows: every replica of one mesh, each with the certificate
// fingerprint it is pinned to. Parsed from `meshctl join HOST:PORT[,HOST:PORT...] --fingerprint
// F[,F...]`, kept in the state file, shown by status. Pure: no I/O, no gRPC.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::agent {

struct CoordinatorEntry {
    std::string address;      // "host:port"
    std::string fingerprint;  // canonical "sha256:<hex>" of its certificate; "" = none pinned
    bool operator==(const CoordinatorEntry&) const = default;
};

using CoordinatorList = std::vector<CoordinatorEntry>;

// More replicas than any deployment runs, few enough that a pass over the list stays short.
constexpr std::size_t kMaxCoordinators = 16;

// "host:port" with a non-empty host and a port 1..65535; throws mesh::Error otherwise.
void validate_coordinator_address(const std::string& address);

// `addresses`: "HOST:PORT[,HOST:PORT...]" (spaces around commas tolerated; no empty or repeated
// entries, at most kMaxCoordinators). `fingerprints`: one fingerprint shared by every replica, or
// exactly one per address in the same order (each as tls::parse_fingerprint accepts it). Throws
// mesh::Error with a one-line message naming what is wrong and the accepted shape.
CoordinatorList parse_coordinator_list(std::string_view addresses, std::string_view fingerprints);

// "a,b,c": the addresses as parse_coordinator_list takes them.
std::string format_addresses(const CoordinatorList& list);
// One fingerprint when every replica shares it, else one per address: parses back with
// format_addresses into the same list.
std::string format_fingerprints(const CoordinatorList& list);

// Whether the two lists pin at least one certificate in common (empty fingerprints never
// match): the same mesh, so a join may reuse the keys a host has for it.
bool shares_fingerprint(const CoordinatorList& a, const CoordinatorList& b);

}  // namespace mesh::agent
