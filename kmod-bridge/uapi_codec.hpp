#pragma once
// The text protocol of WireGuard's userspace implementations (wireguard.com/xplatform), as
// spoken over /var/run/wireguard/IF.sock. Pure: strings in, strings or structs out, no I/O,
// so the parser can be unit-tested and fuzzed without a device.
//
// A request is "set=1\n" or "get=1\n", key=value lines, then a blank line. Every reply ends in
// "errno=N\n\n"; wireguard-go sends negative values (-22 for an unknown key), so N is kept as
// sent and only its magnitude is used to name the error.
#include <cstddef>
#include <string>
#include <string_view>

#include "kmod-bridge/device.hpp"

namespace mesh::kb {

// Bounds on what the decoder accepts: a get of ~100k peers fits easily, a runaway or hostile
// peer does not make us allocate without limit.
inline constexpr std::size_t kUapiMaxReplyBytes = 64u << 20;
inline constexpr std::size_t kUapiMaxLineBytes = 4u << 10;

// The full "set=1\n...\n\n" request for an update. Fields appear only when the update carries
// them, so an update never resets what it does not mention.
std::string encode_set(const DeviceUpdate& update);

// The "get=1\n\n" request.
inline constexpr std::string_view kUapiGetRequest = "get=1\n\n";

// Parses the reply to a get. Throws mesh::Error for a non-zero errno and for any malformed,
// unknown, duplicated, out-of-range or truncated input; never anything else.
DeviceState decode_get(std::string_view reply);

// The N of the "errno=N\n\n" reply to a set. Throws mesh::Error if the reply is anything else.
int decode_errno(std::string_view reply);

// "errno=-22 (Invalid argument)": for messages.
std::string describe_errno(int uapi_errno);

}  // namespace mesh::kb
