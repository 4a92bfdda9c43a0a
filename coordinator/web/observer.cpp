#include "coordinator/web/observer.hpp"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <memory>

#include "coordinator/admin_json.hpp"
#include "coordinator/admin_service.hpp"
#include "coordinator/coordinator_metrics.hpp"
#include "coordinator/log_budget.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/store_health.hpp"
#include "coordinator/web/fleet_metrics.hpp"
#include "coordinator/web/fleet_page.hpp"
#include "coordinator/web/http_auth.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::coord {

namespace {

v1::ListNodesResponse list_nodes(AdminService& admin) {
    grpc::ServerContext context;  // the local access: no credential checked here
    v1::ListNodesRequest request;
    v1::ListNodesResponse response;
    auto status = admin.ListNodes(&context, &request, &response);
    if (!status.ok()) throw std::runtime_error(status.error_message());
    return response;
}

std::string host_of(const std::string& listen) {
    auto colon = listen.rfind(':');
    return colon == std::string::npos ? listen : listen.substr(0, colon);
}

std::string metrics_text(AdminService& admin, const ObservedCounters& counters) {
    auto families = fleet_families(list_nodes(admin));
    for (auto& f : counters.metrics.families()) families.push_back(std::move(f));
    for (auto& f : store_health_families(counters.health)) families.push_back(std::move(f));
    return metrics::render(families);
}

}  // namespace

std::unique_ptr<web::HttpListener> start_observer(const std::string& listen, AdminService& admin,
                                                  Registry& registry, ObservedCounters counters) {
    if (listen.empty()) return nullptr;
    const bool open = !loopback_host(host_of(listen));
    auto refusals = std::make_shared<LogBudget>(5, 60);  // the handler runs on one thread
    auto handler = [&admin, &registry, counters, open,
                    refusals](const web::HttpRequest& req) -> web::HttpReply {
        if (open) {
            auto password = basic_password(req.authorization);
            try {
                registry.check_operator(password.value_or(""));
            } catch (const StatusError& e) {
                // A browser left open on the page without the credential asks every second:
                // a few lines, then one a minute saying how many were left out.
                std::uint64_t suppressed = 0;
                if (refusals->allow("http", std::time(nullptr), suppressed)) {
                    spdlog::warn("event=metrics_refused target={} reason={} suppressed={}",
                                 kb::log_quote(req.target), kb::log_quote(e.what()), suppressed);
                }
                return {401, "text/plain; charset=utf-8",
                        "give the operator credential as the Basic auth password\n", true};
            }
        }
        const std::string path = req.target.substr(0, req.target.find('?'));
        if (path == "/metrics") {
            return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(admin, counters),
                    false};
        }
        if (path == "/api/fleet") {
            return {200, "application/json", render_nodes_json(list_nodes(admin)), false};
        }
        if (path == "/") return {200, "text/html; charset=utf-8", web::fleet_page_html(), false};
        return {404, "text/plain; charset=utf-8", "not found: try /, /metrics or /api/fleet\n",
                false};
    };
    auto listener = std::make_unique<web::HttpListener>(listen, handler);
    spdlog::info("event=metrics_listening listen={} port={} auth={}", listen, listener->port(),
                 open ? "operator-credential" : "loopback");
    return listener;
}

}  // namespace mesh::coord
