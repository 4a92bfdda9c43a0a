#pragma once
// What the coordinator counts as it works (the gauges of the fleet are computed at scrape time,
// coordinator/web/fleet_metrics.hpp): joins by outcome, map messages and bytes written to Sync
// streams, how long a committed change takes to reach a stream, and the store's latency per
// kind of operation. One instance per coordinator, passed to what updates it; every update is
// a few relaxed atomic additions (the fan-out counts for 10,000 streams without a lock).
#include <chrono>
#include <string>
#include <vector>

#include "kmod-bridge/metrics_counters.hpp"
#include "kmod-bridge/metrics_text.hpp"

namespace mesh::coord {

class StatusError;

// A bounded set: every value is a label value of mesh_coordinator_joins_total.
enum class JoinOutcome {
    ok,
    bad_token,  // malformed, unknown id or wrong secret
    token_revoked,
    token_expired,
    token_used_up,
    denied,            // another refusal of who asks (machine proof, key held by another machine)
    invalid_argument,  // keys, hostname, endpoints, tags, container subnet
    exhausted,         // no free address or container subnet
    unavailable,       // the store could not answer (etcd without a quorum)
    busy,              // too many joins waiting: refused before any work
    other,             // any other refusal or failure
};
constexpr std::size_t kJoinOutcomes = 11;
const char* join_outcome_name(JoinOutcome outcome);
// How a refused join is counted, from the error it was refused with.
JoinOutcome join_outcome(const StatusError& error);

enum class StoreOp { read, write, transaction };

// What the fan-out wrote on a Sync stream.
enum class SentKind {
    delta,     // a map delta (the node's own removal included)
    full_map,  // the first chunk of a full map (the others count as other)
    other,     // full-map continuations, PeersReady batches, relay credentials
};

class CoordinatorMetrics {
  public:
    // store_kind: the store's label value ("sqlite", "etcd").
    explicit CoordinatorMetrics(std::string store_kind = "sqlite");

    void join(JoinOutcome outcome) { joins_.add(static_cast<std::size_t>(outcome)); }
    void sent(SentKind kind, std::size_t bytes);
    // From a map change's commit to the first delta carrying it written to a stream.
    void fanout_latency(std::chrono::nanoseconds elapsed);
    void store_latency(StoreOp op, std::chrono::nanoseconds elapsed);

    std::uint64_t joins(JoinOutcome outcome) const;
    std::uint64_t deltas_sent() const { return deltas_.value(); }
    std::uint64_t full_maps_sent() const { return full_maps_.value(); }
    std::uint64_t bytes_sent() const { return bytes_.value(); }

    std::vector<metrics::Family> families() const;

  private:
    std::string store_kind_;
    metrics::LabeledCounter joins_;
    metrics::Counter deltas_, full_maps_, bytes_;
    metrics::Histogram fanout_latency_;
    metrics::Histogram store_read_, store_write_, store_transaction_;
};

}  // namespace mesh::coord
