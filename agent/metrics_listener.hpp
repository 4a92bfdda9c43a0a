#pragma once
// The agent's --metrics-listen: GET /metrics in the Prometheus text format, read-only. No
// credential: it shows peers' names, byte counts and path kinds, never a key or an endpoint;
// bind it to loopback or to the host's mesh address (which exists once the device is up).
#include <memory>
#include <string>

#include "kmod-bridge/daemon/http_listener.hpp"

namespace mesh::agent {

class Agent;

// nullptr when `listen` is empty (off). Throws, naming the address, when it cannot listen.
std::unique_ptr<web::HttpListener> start_metrics_listener(const std::string& listen, Agent& agent);

}  // namespace mesh::agent
