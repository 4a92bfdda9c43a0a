#pragma once
// The coordinator's core: joins, endpoint reports, removals, tokens. No gRPC, no sockets: the
// store and the clock come in as parameters, and every change ends in on_change(new version)
// after it committed, which the fan-out hub turns into deltas.
#include <functional>
#include <string>
#include <vector>

#include "coordinator/model.hpp"
#include "coordinator/store.hpp"
#include "coordinator/token.hpp"

namespace mesh::coord {

struct JoinParams {
    std::string token;
    Key wireguard_key;
    Key machine_key;
    std::string hostname;
    std::vector<Endpoint> endpoints;
};

class Registry {
  public:
    using Clock = std::function<std::int64_t()>;  // unix seconds
    using OnChange = std::function<void(std::uint64_t version)>;

    Registry(Store& store, NetworkConfig network, Clock clock, OnChange on_change);

    NewToken create_token(std::int64_t ttl_seconds, bool reusable, std::uint32_t max_uses);
    // Throws StatusError with the status the caller should see; nothing is stored on failure.
    NodeRecord join(const JoinParams& params);
    // Returns false (and stores nothing) when the list is unchanged. Throws not_found.
    bool update_endpoints(const std::string& node_id, const std::vector<Endpoint>& endpoints);
    // Accepts a node id or a hostname; returns the removed node's id. Throws not_found.
    std::string remove_node(const std::string& id_or_hostname);

    const NetworkConfig& network() const { return network_; }
    Store& store() { return store_; }
    std::int64_t now() const { return clock_(); }

  private:
    NodeRecord create_node(const JoinParams& params, const std::string& hostname,
                           std::uint64_t version);

    Store& store_;
    NetworkConfig network_;
    Clock clock_;
    OnChange on_change_;
};

// The interface addresses of a node, with the overlay prefix lengths: IPv4 first.
std::vector<IpPrefix> interface_addresses(const NodeRecord& node, const NetworkConfig& network);

}  // namespace mesh::coord
