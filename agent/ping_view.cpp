#include "agent/ping_view.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace mesh::agent {

namespace {

std::string name_of(const v1::PingResponse& r) {
    return r.hostname().empty() ? r.node_id() : r.hostname() + " (" + r.node_id() + ")";
}

}  // namespace

std::string render_ping_line(const v1::PingResponse& r, unsigned timeout_ms) {
    if (r.answered()) {
        return fmt::format("pong from {} via {} {} in {:.2f} ms\n", name_of(r), r.path(),
                           r.endpoint(), r.rtt_us() / 1000.0);
    }
    return fmt::format("no answer from {} within {} ms (path in use: {})\n", name_of(r), timeout_ms,
                       r.selected_path().empty() ? "none" : r.selected_path());
}

std::string render_ping_json(const v1::PingResponse& r) {
    nlohmann::ordered_json out = {{"node_id", r.node_id()},
                                  {"hostname", r.hostname()},
                                  {"answered", r.answered()},
                                  {"path", r.path()},
                                  {"endpoint", r.endpoint()},
                                  {"rtt_ms", r.rtt_us() / 1000.0},
                                  {"selected_path", r.selected_path()}};
    return out.dump() + "\n";
}

bool ping_again(const std::vector<v1::PingResponse>& replies, unsigned count, bool until_direct) {
    if (replies.size() >= count) return false;
    if (!until_direct) return true;
    return std::none_of(replies.begin(), replies.end(),
                        [](const v1::PingResponse& r) { return r.answered(); });
}

int ping_exit_code(const std::vector<v1::PingResponse>& replies) {
    return std::any_of(replies.begin(), replies.end(),
                       [](const v1::PingResponse& r) { return r.answered(); })
               ? 0
               : 1;
}

}  // namespace mesh::agent
