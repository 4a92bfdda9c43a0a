#include "agent/metrics_listener.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

#include "agent/agent.hpp"
#include "agent/agent_metrics.hpp"
#include "kmod-bridge/metrics_text.hpp"

namespace mesh::agent {

std::unique_ptr<web::HttpListener> start_metrics_listener(const std::string& listen, Agent& agent) {
    if (listen.empty()) return nullptr;
    auto handler = [&agent](const web::HttpRequest& req) -> web::HttpReply {
        const std::string path = req.target.substr(0, req.target.find('?'));
        if (path != "/metrics") {
            return {404, "text/plain; charset=utf-8", "not found: try /metrics\n", false};
        }
        // Counters first: a reconcile between the two reads shows in the next scrape, never
        // as a count ahead of the status it came from.
        auto counters = agent.counters();
        auto status = agent.status();
        return {200, "text/plain; version=0.0.4; charset=utf-8",
                metrics::render(agent_families(status, counters, std::time(nullptr))), false};
    };
    auto listener = std::make_unique<web::HttpListener>(listen, handler);
    spdlog::info("event=metrics_listening listen={} port={}", listen, listener->port());
    return listener;
}

}  // namespace mesh::agent
