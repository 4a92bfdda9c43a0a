// The fan-out without gRPC: sessions with recording sinks, passes driven by the test. What each
// stream is sent (decoded with the generated parser, so the hand-assembled bytes are checked
// against the contract), that one change is encoded once for every stream, coalescing, chunked
// full maps, readiness per ack, and acks that go backwards.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <set>

#include "coordinator/convert.hpp"
#include "coordinator/fanout/fanout.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/sqlite_store.hpp"
#include "mesh/v1/coordinator.pb.h"
#include "sync_proof.hpp"
#include "tests/unit/support/test_support.hpp"

using namespace mesh::coord;
using mesh::test::key_of;

namespace {

const std::string kFingerprint = "sha256:" + std::string(64, 'd');

// A stream that records what it is sent; the test completes each write itself.
struct RecordingSink final : StreamSink {
    std::vector<WireMessage> written;
    bool in_flight = false;
    std::optional<Code> finished;
    bool write(WireMessage m) override {
        REQUIRE_FALSE(in_flight);  // the fan-out never has two writes in flight
        in_flight = true;
        written.push_back(std::move(m));
        return true;
    }
    void finish(Code code, std::string) override { finished = code; }
    mesh::v1::SyncResponse decoded(std::size_t i) const {
        mesh::v1::SyncResponse r;
        REQUIRE(r.ParseFromString(written.at(i).flatten()));
        return r;
    }
};

struct World {
    SqliteStore store{":memory:"};
    std::int64_t now = 1'000'000;
    NetworkConfig network = [] {
        NetworkConfig n;
        n.ipv6_prefix = IpPrefix::parse("fd00:cc::/48");
        return n;
    }();
    Fanout* fan = nullptr;
    Registry registry{store, network, [this] { return now; },
                      [this](std::uint64_t) {
                          if (fan) fan->map_changed();
                      },
                      encode_peer};
    std::string token = registry.create_token({3600, true, 0, {}, false}).text;
    Fanout fanout;

    explicit World(std::size_t max_message_bytes = 1 << 20)
        : fanout(registry, MapMessages(to_proto(network).SerializeAsString(), max_message_bytes),
                 {}) {
        fan = &fanout;
    }

    NodeRecord join(std::uint8_t n, const std::string& host) {
        unsigned char seed[32], pk[32], sk[64];
        std::fill(std::begin(seed), std::end(seed), n);
        crypto_sign_seed_keypair(pk, sk, seed);
        Key machine;
        std::copy(std::begin(pk), std::end(pk), machine.bytes.begin());
        auto wg = key_of(n);
        auto message = mesh::v1::join_proof_message(
            kFingerprint, token, std::string(reinterpret_cast<const char*>(wg.bytes.data()), 32));
        std::string signature(crypto_sign_BYTES, '\0');
        crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                             sk);
        return registry.join({token, wg, machine, host, {}, {}, signature, kFingerprint, {}});
    }
    struct Stream {
        std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
        std::shared_ptr<Fanout::Session> session;
    };
    Stream open(const NodeRecord& node, std::uint64_t from = 0) {
        Stream s;
        s.session = fanout.attach(node.id, from, s.sink);
        return s;
    }
    // Completes the stream's write in flight, as gRPC's OnWriteDone would.
    void done(Stream& s) {
        REQUIRE(s.sink->in_flight);
        s.sink->in_flight = false;
        fanout.write_done(s.session, true);
    }
};

std::set<std::string> ids(const google::protobuf::RepeatedPtrField<mesh::v1::Peer>& peers) {
    std::set<std::string> out;
    for (const auto& p : peers) out.insert(p.node_id());
    return out;
}

}  // namespace

TEST_CASE("fanout: a full map first, then deltas, then the node's own removal in-band") {
    REQUIRE(sodium_init() >= 0);
    World w;
    auto a = w.join(1, "a");
    auto b = w.join(2, "b");
    auto sa = w.open(a);
    w.fanout.pass_now();
    REQUIRE(sa.sink->written.size() == 1);
    auto full = sa.sink->decoded(0);
    REQUIRE(full.has_full());
    CHECK(full.full().self().node_id() == a.id);
    CHECK(ids(full.full().peers()) == std::set<std::string>{b.id});
    CHECK(full.full().version() == w.registry.version());
    CHECK(full.full().network().ipv4_prefix() == "100.64.0.0/10");
    CHECK_FALSE(full.full().continued());
    w.done(sa);
    w.fanout.pass_now();
    CHECK(sa.sink->written.size() == 1);  // nothing new

    auto c = w.join(3, "c");
    w.fanout.pass_now();
    REQUIRE(sa.sink->written.size() == 2);
    auto delta = sa.sink->decoded(1);
    REQUIRE(delta.has_delta());
    CHECK(delta.delta().from_version() == full.full().version());
    CHECK(ids(delta.delta().upserted()) == std::set<std::string>{c.id});
    CHECK_FALSE(delta.delta().has_self());
    w.done(sa);

    w.registry.remove_node("b");
    w.fanout.pass_now();
    auto removal = sa.sink->decoded(2);
    CHECK(std::vector<std::string>(removal.delta().removed().begin(),
                                   removal.delta().removed().end()) ==
          std::vector<std::string>{b.id});
    w.done(sa);

    w.registry.remove_node(a.id);
    w.fanout.pass_now();
    auto bye = sa.sink->decoded(3);
    REQUIRE(bye.delta().removed_size() == 1);
    CHECK(bye.delta().removed(0) == a.id);
    CHECK(sa.sink->finished == Code::cancelled);
}

TEST_CASE("fanout: one change is encoded once and the same bytes go to every stream") {
    World w;
    std::vector<NodeRecord> nodes;
    for (std::uint8_t i = 1; i <= 5; ++i) nodes.push_back(w.join(i, "h" + std::to_string(i)));
    std::vector<World::Stream> streams;
    for (const auto& n : nodes) streams.push_back(w.open(n));
    w.fanout.pass_now();
    for (auto& s : streams) w.done(s);
    w.registry.update_endpoints(nodes[0].id, {Endpoint::parse("192.0.2.7:51820")});
    w.fanout.pass_now();
    // Streams 1..4 share one buffer; node 0's own stream gets its record as self.
    const auto* shared = streams[1].sink->written.back().slices.back().data.get();
    for (std::size_t i = 2; i < streams.size(); ++i) {
        CHECK(streams[i].sink->written.back().slices.back().data.get() == shared);
        auto d = streams[i].sink->decoded(1);
        REQUIRE(d.delta().upserted_size() == 1);
        CHECK(d.delta().upserted(0).endpoints(0) == "192.0.2.7:51820");
    }
    auto own = streams[0].sink->decoded(1);
    CHECK(own.delta().upserted_size() == 0);
    CHECK(own.delta().self().endpoints(0) == "192.0.2.7:51820");
}

TEST_CASE("fanout: changes before a pass coalesce into one delta per stream") {
    World w;
    auto a = w.join(1, "a");
    auto sa = w.open(a);
    w.fanout.pass_now();
    w.done(sa);
    auto before = w.registry.version();
    for (std::uint8_t i = 2; i <= 6; ++i) w.join(i, "x" + std::to_string(i));
    w.fanout.pass_now();
    REQUIRE(sa.sink->written.size() == 2);
    auto d = sa.sink->decoded(1);
    CHECK(d.delta().from_version() == before);
    CHECK(d.delta().version() == w.registry.version());
    CHECK(d.delta().upserted_size() == 5);
}

TEST_CASE("fanout: a stream still writing catches up from where it is, in one delta") {
    World w;
    auto a = w.join(1, "a");
    auto sa = w.open(a);
    w.fanout.pass_now();  // the full map is in flight
    w.join(2, "b");
    w.fanout.pass_now();
    CHECK(sa.sink->written.size() == 1);  // not while writing
    w.join(3, "c");
    w.done(sa);
    w.fanout.pass_now();
    REQUIRE(sa.sink->written.size() == 2);
    CHECK(sa.sink->decoded(1).delta().upserted_size() == 2);
}

TEST_CASE("fanout: a large full map comes in chunks under the size limit, all peers once") {
    World w(2000);  // tiny messages, so 60 peers take several chunks
    std::vector<NodeRecord> nodes;
    for (std::uint8_t i = 1; i <= 60; ++i) nodes.push_back(w.join(i, "n" + std::to_string(i)));
    auto s = w.open(nodes[0]);
    w.fanout.pass_now();
    std::set<std::string> seen;
    for (int chunk = 0;; ++chunk) {
        REQUIRE(s.sink->written.size() == static_cast<std::size_t>(chunk + 1));
        CHECK(s.sink->written.back().size() <= 2000 + 64);
        auto m = s.sink->decoded(chunk);
        REQUIRE(m.has_full());
        CHECK(m.full().version() == w.registry.version());
        CHECK(m.full().has_self() == (chunk == 0));
        for (const auto& p : m.full().peers()) CHECK(seen.insert(p.node_id()).second);
        const bool more = m.full().continued();
        w.done(s);  // the next chunk follows at once, without a pass
        if (!more) break;
    }
    CHECK(seen.size() == 59);
    CHECK_FALSE(seen.contains(nodes[0].id));
}

TEST_CASE("fanout: a resumed stream gets a delta from its version, or a full map") {
    World w;
    auto a = w.join(1, "a");
    auto version = w.registry.version();
    auto b = w.join(2, "b");
    auto resumed = w.open(a, version);
    w.fanout.pass_now();
    auto d = resumed.sink->decoded(0);
    REQUIRE(d.has_delta());
    CHECK(d.delta().from_version() == version);
    CHECK(ids(d.delta().upserted()) == std::set<std::string>{b.id});
    auto current = w.open(b, w.registry.version());
    w.fanout.pass_now();
    auto empty = current.sink->decoded(0);
    REQUIRE(empty.has_delta());  // up to date: a delta with no changes
    CHECK(empty.delta().from_version() == empty.delta().version());
    CHECK(empty.delta().upserted_size() == 0);
}

TEST_CASE("fanout: a pair is ready once both acked the other's key, announced once to each") {
    World w;
    auto a = w.join(1, "a");
    auto b = w.join(2, "b");
    auto sa = w.open(a), sb = w.open(b);
    w.fanout.pass_now();
    w.done(sa);
    w.done(sb);
    const auto v = w.registry.version();
    CHECK(w.fanout.ack(*sa.session, v));
    w.fanout.pass_now();
    CHECK(sa.sink->written.size() == 1);  // b has not applied a yet
    CHECK(w.fanout.ack(*sb.session, v));
    w.fanout.pass_now();
    REQUIRE(sa.sink->written.size() == 2);
    REQUIRE(sb.sink->written.size() == 2);
    auto ra = sa.sink->decoded(1), rb = sb.sink->decoded(1);
    // a joined first: b, the younger, initiates.
    REQUIRE(ra.ready().respond_size() == 1);
    CHECK(ra.ready().respond(0) == b.id);
    REQUIRE(rb.ready().initiate_size() == 1);
    CHECK(rb.ready().initiate(0) == a.id);
    w.done(sa);
    w.done(sb);
    CHECK_FALSE(w.fanout.ack(*sa.session, v));       // the same ack again: ignored
    CHECK_FALSE(w.fanout.ack(*sa.session, v - 1));   // lower: ignored
    CHECK_FALSE(w.fanout.ack(*sa.session, v + 50));  // beyond what was sent: what was sent
    CHECK(w.fanout.applied(a.id) == v);
    w.fanout.pass_now();
    CHECK(sa.sink->written.size() == 2);  // announced once
}

TEST_CASE("fanout: a resumed stream is told its ready set again") {
    World w;
    auto a = w.join(1, "a");
    auto b = w.join(2, "b");
    auto sa = w.open(a), sb = w.open(b);
    w.fanout.pass_now();
    w.done(sa);
    w.done(sb);
    w.fanout.ack(*sa.session, w.registry.version());
    w.fanout.ack(*sb.session, w.registry.version());
    auto again = w.open(a, w.registry.version());  // a reconnects: the old stream is replaced
    CHECK(sa.sink->finished == Code::cancelled);
    w.fanout.pass_now();
    bool told = false;
    for (std::size_t i = 0; i < again.sink->written.size(); ++i) {
        auto m = again.sink->decoded(i);
        if (m.has_ready() && m.ready().respond_size() == 1 && m.ready().respond(0) == b.id) {
            told = true;
        }
        if (again.sink->in_flight) w.done(again);
        w.fanout.pass_now();
    }
    CHECK(told);
}

TEST_CASE("fanout: an expired peer leaves the map as removed, an expired node is told and ended") {
    World w;
    auto a = w.join(1, "a");
    auto b = w.join(2, "b");
    auto sa = w.open(a), sb = w.open(b);
    w.fanout.pass_now();
    w.done(sa);
    w.done(sb);
    w.registry.expire_node("b");
    w.fanout.pass_now();
    auto d = sa.sink->decoded(1);
    REQUIRE(d.delta().removed_size() == 1);
    CHECK(d.delta().removed(0) == b.id);
    auto bye = sb.sink->decoded(1);
    REQUIRE(bye.delta().removed_size() == 1);
    CHECK(bye.delta().removed(0) == b.id);
    CHECK(sb.sink->finished == Code::cancelled);
}

TEST_CASE("fanout: counts a full map once and a delta per stream with its latency and every byte") {
    REQUIRE(sodium_init() >= 0);
    World w(2000);  // small messages: a full map of 60 peers takes several chunks
    CoordinatorMetrics m;
    w.fanout.set_metrics(&m);
    std::vector<NodeRecord> nodes;
    for (std::uint8_t i = 1; i <= 60; ++i) nodes.push_back(w.join(i, "h" + std::to_string(i)));
    auto s1 = w.open(nodes.at(0));
    auto s2 = w.open(nodes.at(1));
    w.fanout.pass_now();
    while (s1.sink->in_flight) w.done(s1);  // every chunk of the full map
    while (s2.sink->in_flight) w.done(s2);
    REQUIRE(s1.sink->written.size() > 1);
    CHECK(m.full_maps_sent() == 2);  // one per stream, not one per chunk
    CHECK(m.deltas_sent() == 0);
    CHECK(mesh::metrics::render(m.families()).find("mesh_coordinator_fanout_seconds_count 0\n") !=
          std::string::npos);

    w.join(70, "late");  // one change: a delta to each stream, its latency measured for each
    w.fanout.pass_now();
    w.done(s1);
    w.done(s2);
    CHECK(m.deltas_sent() == 2);
    std::size_t bytes = 0;
    for (const auto* s : {&s1, &s2}) {
        for (const auto& message : s->sink->written) bytes += message.size();
    }
    CHECK(m.bytes_sent() == bytes);
    const auto text = mesh::metrics::render(m.families());
    CHECK(text.find("mesh_coordinator_fanout_seconds_count 2\n") != std::string::npos);
    CHECK(text.find("mesh_coordinator_fanout_seconds_bucket{le=\"10\"} 2\n") != std::string::npos);
}
