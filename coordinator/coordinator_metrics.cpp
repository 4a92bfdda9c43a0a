#include "coordinator/coordinator_metrics.hpp"

#include "coordinator/status_error.hpp"
#include "coordinator/token.hpp"

namespace mesh::coord {

namespace {

std::vector<std::string> outcome_names() {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < kJoinOutcomes; ++i) {
        out.emplace_back(join_outcome_name(static_cast<JoinOutcome>(i)));
    }
    return out;
}

double seconds(std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

const char* join_outcome_name(JoinOutcome outcome) {
    switch (outcome) {
        case JoinOutcome::ok:
            return "ok";
        case JoinOutcome::bad_token:
            return "bad_token";
        case JoinOutcome::token_revoked:
            return "token_revoked";
        case JoinOutcome::token_expired:
            return "token_expired";
        case JoinOutcome::token_used_up:
            return "token_used_up";
        case JoinOutcome::denied:
            return "denied";
        case JoinOutcome::invalid_argument:
            return "invalid_argument";
        case JoinOutcome::exhausted:
            return "exhausted";
        case JoinOutcome::unavailable:
            return "unavailable";
        case JoinOutcome::busy:
            return "busy";
        case JoinOutcome::other:
            break;
    }
    return "other";
}

JoinOutcome join_outcome(const StatusError& error) {
    if (const auto* token = dynamic_cast<const TokenRefused*>(&error)) {
        switch (token->reason()) {
            case TokenRefused::Reason::unknown:
                return JoinOutcome::bad_token;
            case TokenRefused::Reason::revoked:
                return JoinOutcome::token_revoked;
            case TokenRefused::Reason::expired:
                return JoinOutcome::token_expired;
            case TokenRefused::Reason::used_up:
                return JoinOutcome::token_used_up;
        }
    }
    switch (error.code()) {
        case Code::unauthenticated:
        case Code::permission_denied:
            return JoinOutcome::denied;
        case Code::invalid_argument:
            return JoinOutcome::invalid_argument;
        case Code::resource_exhausted:
            return JoinOutcome::exhausted;
        case Code::unavailable:
            return JoinOutcome::unavailable;
        default:
            return JoinOutcome::other;
    }
}

CoordinatorMetrics::CoordinatorMetrics(std::string store_kind)
    : store_kind_(std::move(store_kind)),
      joins_("outcome", outcome_names()),
      fanout_latency_(metrics::latency_bounds_1ms_10s()),
      // A store operation: from 100 µs (SQLite in the page cache) to 10 s (etcd timing out).
      store_read_({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1, 2.5, 5, 10}),
      store_write_(store_read_.bounds()),
      store_transaction_(store_read_.bounds()) {}

void CoordinatorMetrics::sent(SentKind kind, std::size_t bytes) {
    bytes_.add(bytes);
    if (kind == SentKind::delta) deltas_.add();
    if (kind == SentKind::full_map) full_maps_.add();
}

void CoordinatorMetrics::fanout_latency(std::chrono::nanoseconds elapsed) {
    fanout_latency_.observe(seconds(elapsed));
}

void CoordinatorMetrics::store_latency(StoreOp op, std::chrono::nanoseconds elapsed) {
    switch (op) {
        case StoreOp::read:
            store_read_.observe(seconds(elapsed));
            break;
        case StoreOp::write:
            store_write_.observe(seconds(elapsed));
            break;
        case StoreOp::transaction:
            store_transaction_.observe(seconds(elapsed));
            break;
    }
}

std::uint64_t CoordinatorMetrics::joins(JoinOutcome outcome) const {
    return joins_.value(static_cast<std::size_t>(outcome));
}

std::vector<metrics::Family> CoordinatorMetrics::families() const {
    using metrics::Family;
    auto counter = [](const char* name, const char* help, const metrics::Counter& c) {
        return Family{
            name, help, Family::Type::counter, {{{}, static_cast<double>(c.value())}}, {}};
    };
    Family joins{"mesh_coordinator_joins_total",
                 "Join calls by outcome",
                 Family::Type::counter,
                 joins_.samples(),
                 {}};
    Family fanout{"mesh_coordinator_fanout_seconds",
                  "From a map change's commit to a delta carrying it written to a Sync stream",
                  Family::Type::histogram,
                  {},
                  {fanout_latency_.snapshot()}};
    Family store{"mesh_coordinator_store_seconds",
                 "Store operations by kind (a transaction includes the reads and writes in it)",
                 Family::Type::histogram,
                 {},
                 {store_read_.snapshot({{"store", store_kind_}, {"op", "read"}}),
                  store_write_.snapshot({{"store", store_kind_}, {"op", "write"}}),
                  store_transaction_.snapshot({{"store", store_kind_}, {"op", "transaction"}})}};
    return {joins,
            counter("mesh_coordinator_sync_deltas_total", "Map deltas written to Sync streams",
                    deltas_),
            counter("mesh_coordinator_sync_full_maps_total", "Full maps written to Sync streams",
                    full_maps_),
            counter("mesh_coordinator_sync_bytes_total",
                    "Bytes of the fan-out's messages written to Sync streams", bytes_),
            fanout,
            store};
}

}  // namespace mesh::coord
