#pragma once
// How the CLIs' JSON (`meshctl status --json`, `mesh-coordinator nodes list --json`) spells the
// wire enums: the same words both print, and the words the tables print.
#include "mesh/v1/coordinator.pb.h"

namespace mesh::v1 {

// "lan", "nat-direct", "none" (no direct path), "probing" (not known yet).
inline const char* path_json_name(PathKind kind) {
    switch (kind) {
        case PATH_LAN:
            return "lan";
        case PATH_NAT_DIRECT:
            return "nat-direct";
        case PATH_NONE:
            return "none";
        case PATH_RELAY:
            return "relay";
        default:
            return "probing";
    }
}

// "none", "endpoint-independent", "endpoint-dependent", "unknown".
inline const char* nat_json_name(NatType nat) {
    switch (nat) {
        case NAT_NONE:
            return "none";
        case NAT_ENDPOINT_INDEPENDENT:
            return "endpoint-independent";
        case NAT_ENDPOINT_DEPENDENT:
            return "endpoint-dependent";
        default:
            return "unknown";
    }
}

}  // namespace mesh::v1
