#pragma once
// The load generator's reading of a mesh.v1.SyncResponse: just what it checks and measures
// (kind, versions, the ids of the peers a message carries, readiness), from the wire bytes
// without building the message. Thousands of simulated agents each receive every peer's record
// (gigabytes in a run): parsing them into Peer objects would make the generator the bottleneck.
// Bounded by the buffer; a malformed message is reported, never read past.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::load {

struct ScannedResponse {
    enum class Kind { none, full, delta, ready, challenge } kind = Kind::none;
    std::uint64_t version = 0;              // full and delta
    std::uint64_t from_version = 0;         // delta
    bool continued = false;                 // full: more chunks follow
    std::string self_id;                    // full (first chunk) and delta (when self changed)
    std::vector<std::string_view> peers;    // full: peers; delta: upserted (node ids)
    std::vector<std::string_view> removed;  // delta
    std::vector<std::string_view> initiate, respond;  // ready
    std::string nonce;                                // challenge
};

// False when the bytes are not a well-formed SyncResponse of the kinds above. The string_views
// point into `bytes`.
bool scan_response(std::string_view bytes, ScannedResponse& out);

// Protobuf wire writing for the few requests the generator sends.
std::string encode_hello(const std::string& node_id, const std::string& signature,
                         std::uint64_t last_applied);
std::string encode_ack(std::uint64_t version);
std::string encode_endpoints(const std::vector<std::string>& endpoints);

}  // namespace mesh::load
