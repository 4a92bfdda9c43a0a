// The coordinator's counters: joins counted by the reason they were refused, what their
// scrape looks like, the timed store's latency by kind, and the store's health as its
// operations show it (SQLite underneath; an outage is a store that answers UNAVAILABLE, as the
// etcd store does without a quorum: tests/integration/etcd_replicas_test.cpp has the real one).
#include <catch2/catch.hpp>

#include "coordinator/coordinator_metrics.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/store_health.hpp"
#include "coordinator/timed_store.hpp"
#include "coordinator/token.hpp"

using namespace mesh::coord;

namespace {

JoinOutcome outcome_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const StatusError& e) {
        return join_outcome(e);
    }
    FAIL("no StatusError thrown");
    return JoinOutcome::ok;
}

// A line of the rendered text, or "" when no line starts with `prefix`.
std::string line_of(const std::string& text, const std::string& prefix) {
    for (std::size_t at = 0; at < text.size();) {
        auto end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        auto line = text.substr(at, end - at);
        if (line.rfind(prefix, 0) == 0) return line;
        at = end + 1;
    }
    return "";
}

// SQLite, except that while `down` every operation fails as an unreachable etcd's do.
class OutageStore final : public Store {
  public:
    bool down = false;
    SqliteStore real{":memory:"};

    void transaction(const std::function<void()>& fn) override {
        fail();
        real.transaction(fn);
    }
    StoreSnapshot load() override { return fail(), real.load(); }
    std::optional<std::string> meta(const std::string& k) override { return fail(), real.meta(k); }
    void set_meta(const std::string& k, const std::string& v) override {
        fail();
        real.set_meta(k, v);
    }
    std::uint64_t version() override { return fail(), real.version(); }
    std::uint64_t bump_version() override { return fail(), real.bump_version(); }
    void put_token(const TokenRecord& t) override {
        fail();
        real.put_token(t);
    }
    std::optional<TokenRecord> token(const std::string& id) override {
        return fail(), real.token(id);
    }
    std::vector<TokenRecord> tokens() override { return fail(), real.tokens(); }
    void put_node(const NodeRecord& n) override {
        fail();
        real.put_node(n);
    }
    std::optional<NodeRecord> node(const std::string& id) override { return fail(), real.node(id); }
    std::optional<NodeRecord> node_by_machine_key(const Key& k) override {
        return fail(), real.node_by_machine_key(k);
    }
    std::optional<NodeRecord> node_by_wireguard_key(const Key& k) override {
        return fail(), real.node_by_wireguard_key(k);
    }
    std::optional<NodeRecord> node_by_hostname(const std::string& h) override {
        return fail(), real.node_by_hostname(h);
    }
    std::vector<NodeRecord> nodes() override { return fail(), real.nodes(); }
    void touch_node(const std::string& id, std::int64_t t) override {
        fail();
        real.touch_node(id, t);
    }
    void remove_node(const std::string& id, std::uint64_t v) override {
        fail();
        real.remove_node(id, v);
    }
    std::vector<Removal> removals() override { return fail(), real.removals(); }
    void put_container_hold(const ContainerHold& h) override {
        fail();
        real.put_container_hold(h);
    }
    void remove_container_hold(const IpPrefix& p) override {
        fail();
        real.remove_container_hold(p);
    }
    std::vector<ContainerHold> container_holds() override { return fail(), real.container_holds(); }

  private:
    void fail() const {
        if (down) throw StatusError(Code::unavailable, "the coordinators' store is unreachable");
    }
};

}  // namespace

TEST_CASE("joins are counted by the reason they were refused") {
    auto t = generate_token(1000, 100, false, 0);
    auto text = parse_token(t.text);
    CHECK(outcome_of([] { parse_token("mesh1_nope"); }) == JoinOutcome::bad_token);
    auto wrong = text;
    wrong.secret[0] = wrong.secret[0] == 'a' ? 'b' : 'a';
    CHECK(outcome_of([&] { check_token(t.record, wrong, 1000); }) == JoinOutcome::bad_token);
    CHECK(outcome_of([&] { check_token(t.record, text, 1100); }) == JoinOutcome::token_expired);
    auto used = t.record;
    used.uses = 1;
    CHECK(outcome_of([&] { check_token(used, text, 1000); }) == JoinOutcome::token_used_up);
    auto revoked = t.record;
    revoked.revoked = true;
    CHECK(outcome_of([&] { check_token(revoked, text, 1000); }) == JoinOutcome::token_revoked);
    // The token errors keep the status the agent has always seen.
    try {
        check_token(used, text, 1000);
    } catch (const StatusError& e) {
        CHECK(e.code() == Code::permission_denied);
    }
    CHECK(join_outcome(StatusError(Code::unauthenticated, "bad machine proof")) ==
          JoinOutcome::denied);
    CHECK(join_outcome(StatusError(Code::invalid_argument, "hostname")) ==
          JoinOutcome::invalid_argument);
    CHECK(join_outcome(StatusError(Code::resource_exhausted, "no address")) ==
          JoinOutcome::exhausted);
    CHECK(join_outcome(StatusError(Code::unavailable, "etcd")) == JoinOutcome::unavailable);
    CHECK(join_outcome(StatusError(Code::aborted, "too many changes")) == JoinOutcome::other);
}

TEST_CASE("the counters render as Prometheus text with every outcome shown") {
    CoordinatorMetrics m;
    m.join(JoinOutcome::ok);
    m.join(JoinOutcome::ok);
    m.join(JoinOutcome::bad_token);
    m.sent(SentKind::full_map, 1000);
    m.sent(SentKind::delta, 200);
    m.sent(SentKind::delta, 300);
    m.sent(SentKind::other, 50);
    m.fanout_latency(std::chrono::milliseconds(3));
    m.fanout_latency(std::chrono::seconds(20));
    m.store_latency(StoreOp::write, std::chrono::microseconds(700));
    CHECK(m.joins(JoinOutcome::ok) == 2);
    CHECK(m.deltas_sent() == 2);
    CHECK(m.full_maps_sent() == 1);
    CHECK(m.bytes_sent() == 1550);
    const auto text = mesh::metrics::render(m.families());
    CHECK(line_of(text, "mesh_coordinator_joins_total{outcome=\"ok\"}") ==
          "mesh_coordinator_joins_total{outcome=\"ok\"} 2");
    CHECK(line_of(text, "mesh_coordinator_joins_total{outcome=\"bad_token\"}") ==
          "mesh_coordinator_joins_total{outcome=\"bad_token\"} 1");
    for (std::size_t i = 0; i < kJoinOutcomes; ++i) {
        const std::string name = join_outcome_name(static_cast<JoinOutcome>(i));
        CHECK_FALSE(
            line_of(text, "mesh_coordinator_joins_total{outcome=\"" + name + "\"}").empty());
    }
    CHECK(line_of(text, "mesh_coordinator_joins_total{outcome=\"busy\"}") ==
          "mesh_coordinator_joins_total{outcome=\"busy\"} 0");
    CHECK(line_of(text, "mesh_coordinator_sync_deltas_total") ==
          "mesh_coordinator_sync_deltas_total 2");
    CHECK(line_of(text, "mesh_coordinator_sync_full_maps_total") ==
          "mesh_coordinator_sync_full_maps_total 1");
    CHECK(line_of(text, "mesh_coordinator_sync_bytes_total") ==
          "mesh_coordinator_sync_bytes_total 1550");
    CHECK(line_of(text, "mesh_coordinator_fanout_seconds_bucket{le=\"0.0025\"}") ==
          "mesh_coordinator_fanout_seconds_bucket{le=\"0.0025\"} 0");
    CHECK(line_of(text, "mesh_coordinator_fanout_seconds_bucket{le=\"0.005\"}") ==
          "mesh_coordinator_fanout_seconds_bucket{le=\"0.005\"} 1");
    CHECK(line_of(text, "mesh_coordinator_fanout_seconds_bucket{le=\"10\"}") ==
          "mesh_coordinator_fanout_seconds_bucket{le=\"10\"} 1");
    CHECK(line_of(text, "mesh_coordinator_fanout_seconds_count") ==
          "mesh_coordinator_fanout_seconds_count 2");
    CHECK(line_of(text, "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"write\"}") ==
          "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"write\"} 1");
    CHECK(
        line_of(
            text,
            "mesh_coordinator_store_seconds_bucket{store=\"sqlite\",op=\"write\",le=\"0.001\"}") ==
        "mesh_coordinator_store_seconds_bucket{store=\"sqlite\",op=\"write\",le=\"0.001\"} 1");
    CHECK(line_of(text, "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"read\"}") ==
          "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"read\"} 0");
    CHECK(line_of(text, "# TYPE mesh_coordinator_store_seconds") ==
          "# TYPE mesh_coordinator_store_seconds histogram");
}

TEST_CASE("the timed store counts reads, writes and transactions of the store it wraps") {
    CoordinatorMetrics m;
    StoreHealth health;
    SqliteStore sqlite(":memory:");
    TimedStore store(sqlite, m, health);
    store.transaction([&] {
        store.set_meta("k", "v");
        store.bump_version();
    });
    CHECK(store.meta("k") == "v");
    CHECK(store.version() == 1);
    CHECK_FALSE(store.shared());
    const auto text = mesh::metrics::render(m.families());
    CHECK(line_of(text,
                  "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"transaction\"}") ==
          "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"transaction\"} 1");
    CHECK(line_of(text, "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"write\"}") ==
          "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"write\"} 2");
    CHECK(line_of(text, "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"read\"}") ==
          "mesh_coordinator_store_seconds_count{store=\"sqlite\",op=\"read\"} 2");
    CHECK(health.available());
}

TEST_CASE("the store's health follows its operations and tells each change once") {
    CoordinatorMetrics m;
    StoreHealth health;
    OutageStore inner;
    TimedStore store(inner, m, health);
    std::vector<bool> heard;
    health.set_listener([&](bool available) { heard.push_back(available); });
    REQUIRE(heard == std::vector<bool>{true});  // the state now, at once

    // A refusal from the transaction's own function is no outage.
    CHECK_THROWS_AS(store.transaction([] { throw StatusError(Code::permission_denied, "no"); }),
                    StatusError);
    CHECK(health.available());

    inner.down = true;
    CHECK_THROWS_AS(store.version(), StatusError);
    CHECK_THROWS_AS(store.put_token({}), StatusError);
    CHECK_FALSE(health.available());
    CHECK(heard == std::vector<bool>{true, false});
    CHECK(health.outages() == 1);
    auto text = mesh::metrics::render(store_health_families(health));
    CHECK(line_of(text, "mesh_coordinator_store_available") ==
          "mesh_coordinator_store_available 0");

    inner.down = false;
    CHECK(store.version() == 0);
    CHECK(health.available());
    CHECK(heard == std::vector<bool>{true, false, true});
    text = mesh::metrics::render(store_health_families(health));
    CHECK(line_of(text, "mesh_coordinator_store_available") ==
          "mesh_coordinator_store_available 1");
    CHECK(line_of(text, "mesh_coordinator_store_outages_total") ==
          "mesh_coordinator_store_outages_total 1");

    // A conflict is the store answering.
    inner.down = true;
    CHECK_THROWS(store.tokens());
    inner.down = false;
    CHECK_THROWS_AS(store.transaction([] { throw StoreConflict(3); }), StoreConflict);
    CHECK(health.available());
    health.set_listener(nullptr);
    inner.down = true;
    CHECK_THROWS(store.nodes());
    CHECK(heard.size() == 5);  // no listener: nobody told
}
