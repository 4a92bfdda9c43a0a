#pragma once
// Who may read the metrics listener: anyone on a loopback address, else a request with HTTP
// Basic authorization whose password is the operator credential (any user name). Pure parsing;
// the credential check itself is the registry's (constant time, as for the operator API).
#include <optional>
#include <string>
#include <string_view>

namespace mesh::coord {

// The password of an "Authorization: Basic BASE64(user:password)" header value; nullopt when
// the header is absent, not Basic, not base64, or has no colon.
std::optional<std::string> basic_password(std::string_view header);

// A listen host (as given to --metrics-listen) that only this machine can reach: 127.0.0.0/8,
// ::1, localhost.
bool loopback_host(const std::string& host);

}  // namespace mesh::coord
