#pragma once
// The fan-out: every connected node's Sync stream, and what each must be sent next. Map changes
// are coalesced for a short window, then one pass builds the delta once and hands the same bytes
// to every up-to-date stream (streams behind get theirs, too far behind a full map in chunks);
// readiness is worked out per ack from the keys that ack covers, never by scanning all peers.
// One thread does the passes; acks, write completions and attaches come from gRPC's threads.
// Each stream has at most one write in flight and a queue of at most one full map's chunks, so a
// slow reader costs memory for its position, not for the changes it has not read.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "coordinator/coordinator_metrics.hpp"
#include "coordinator/fanout/map_messages.hpp"
#include "coordinator/model.hpp"
#include "coordinator/status_error.hpp"

namespace mesh::coord {

class Registry;

// Where a stream's messages go (the gRPC reactor). Thread-safe; never blocks.
class StreamSink {
  public:
    virtual ~StreamSink() = default;
    // Starts writing one message; its completion is reported with Fanout::write_done. False
    // when the stream has ended (nothing was written and no completion will come).
    virtual bool write(WireMessage message) = 0;
    // Ends the stream with this status once the write in flight (if any) completed.
    virtual void finish(Code code, std::string message) = 0;
};

// Told when a node's Sync stream opens or closes here and when it reports its paths, so other
// coordinator replicas can show it (coordinator/replication.hpp). Called without the fan-out's
// lock; must not block.
class PresenceListener {
  public:
    virtual ~PresenceListener() = default;
    virtual void stream_opened(const std::string& node_id) = 0;
    virtual void stream_closed(const std::string& node_id) = 0;
    virtual void paths_reported(const std::string& node_id, const NodePaths& paths) = 0;
};

// What this replica's streams have applied, for the other replicas' readiness: `version` is the
// newest key change in the map; `behind` lists the nodes that have not applied it yet.
struct LocalAcks {
    std::uint64_t version = 0;
    std::unordered_map<std::string, std::uint64_t> behind;
    bool operator==(const LocalAcks&) const = default;
};

class Fanout {
  public:
    struct Options {
        // Coalescing: a pass once no change came for `window`, or `max_window` after the first
        // (a single change goes out after 5 ms; a storm of them every 50 ms, in one delta).
        std::chrono::milliseconds window{5};
        std::chrono::milliseconds max_window{50};
        std::size_t max_message_bytes = 1 << 20;  // full-map chunks, deltas, ready messages
    };

    class Session {
      public:
        explicit Session(std::string id) : node_id(std::move(id)) {}
        const std::string node_id;

      private:
        friend class Fanout;
        std::shared_ptr<StreamSink> sink;
        std::uint64_t sent_version = 0;  // the map version the stream's last map message ended at
        bool sent_any = false;
        bool writing = false;
        bool closing = false;           // finished (removed, replaced, shut down): no more writes
        bool scan_ready = false;        // the stream's ready set is still to be sent
        std::deque<WireMessage> queue;  // the rest of a full map's chunks, or of ready messages
        std::vector<std::string> initiate, respond;
    };

    Fanout(Registry& registry, MapMessages messages, Options options);
    ~Fanout();
    Fanout(const Fanout&) = delete;
    Fanout& operator=(const Fanout&) = delete;

    void start();  // the pass thread; without it, pass_now() drives everything (tests)
    // Ends every stream with UNAVAILABLE ("coordinator shutting down") and stops the thread.
    void shutdown();
    bool is_shutdown() const;

    // A stream whose hello was accepted: the node says it applied `client_version` (0 = none).
    // An older stream of the node is finished (CANCELLED, replaced). sink may be null (tests).
    std::shared_ptr<Session> attach(const std::string& node_id, std::uint64_t client_version,
                                    std::shared_ptr<StreamSink> sink);
    void detach(const std::shared_ptr<Session>& session);
    // Whether `session` is still its node's current stream.
    bool current(const Session& session) const;
    // The map version the stream's last map message ended at (what its acks are clamped to).
    std::uint64_t sent_version(const Session& session) const;

    // The registry committed a change; `version` is the map's version after it (the time of
    // its commit is kept for the fan-out latency of the deltas that carry it).
    void map_changed(std::uint64_t version);
    void map_changed();  // the same at the registry's version now
    // The stream's write completed (ok = false: the stream broke).
    void write_done(const std::shared_ptr<Session>& session, bool ok);
    // The node applied every map message up to `version`. A version not above its last ack is
    // ignored; one beyond what the stream was sent is taken as what it was sent. Returns whether
    // it counted.
    bool ack(const Session& session, std::uint64_t version);
    // Sends `message` (a serialized SyncResponse for this stream alone, e.g. relay credentials)
    // after whatever the stream has queued; false when `session` is not its node's current
    // stream any more.
    bool post(const Session& session, WireMessage message);

    // Set before streams attach; null: none.
    void set_presence_listener(PresenceListener* listener) { listener_ = listener; }
    // Where messages written, their bytes and the fan-out latency are counted; set before
    // start() and attach(); null: not counted.
    void set_metrics(CoordinatorMetrics* metrics) { metrics_ = metrics; }
    // Another replica says `node_id` (streaming there, not here) applied `version`: readiness
    // is worked out for it as for a local ack, and told to the peers streaming here. Ignored for
    // a node with a stream here (its own acks count) and for a version not above what is known.
    void remote_ack(const std::string& node_id, std::uint64_t version);
    LocalAcks local_acks() const;
    // Moves whenever local_acks() may have changed (an ack, a stream attached or gone, a map
    // change): a publisher with nothing new skips building it.
    std::uint64_t acks_epoch() const { return acks_epoch_.load(std::memory_order_relaxed); }

    bool connected(const std::string& node_id) const;
    std::optional<std::uint64_t> applied(const std::string& node_id) const;
    void forget(const std::string& node_id);  // a removed node's bookkeeping
    // The node's path report while `session` is its current stream (false for a replaced one);
    // `previous` receives what it replaced.
    bool set_paths(const Session& session, NodePaths paths, std::optional<NodePaths>& previous);
    std::optional<NodePaths> paths(const std::string& node_id) const;
    std::size_t session_count() const;

    // One pass on the caller's thread, now (tests, fuzzers, and the thread's own loop).
    void pass_now();

  private:
    using Clock = std::chrono::steady_clock;
    struct Outgoing {
        std::shared_ptr<Session> session;
        WireMessage message;
        SentKind kind = SentKind::other;
        Clock::time_point changed{};  // a delta's oldest change's commit ({}: not measured)
    };
    void run();
    // The next message for `s`, if any; under mutex_ and the map's read lock.
    void service(const MeshMap& map, const std::shared_ptr<Session>& s,
                 std::map<std::uint64_t, std::optional<SharedDelta>>& shared,
                 std::vector<Outgoing>& out);
    // Returns what messages[0] is: a delta or the first chunk of a full map.
    SentKind queue_map(const MeshMap& map, Session& s,
                       std::map<std::uint64_t, std::optional<SharedDelta>>& shared,
                       std::vector<WireMessage>& messages);
    // When the oldest change after `version` was committed; {} when not known (before the
    // fan-out kept count, or forgotten: only the newest kChangeTimes are kept).
    Clock::time_point changed_after(std::uint64_t version) const;
    void add_ready_set(const MeshMap& map, Session& s);
    void queue_ready(const std::string& node_id, const std::string& peer, bool initiate);
    void send(std::vector<Outgoing>& out);
    void want(const std::shared_ptr<Session>& s);

    Registry& registry_;
    MapMessages messages_;
    const Options options_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    bool shutdown_ = false;
    bool map_dirty_ = true;
    std::chrono::steady_clock::time_point pending_since_{};
    std::chrono::steady_clock::time_point last_change_{};
    std::uint64_t pass_version_ = 0;
    std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;  // by node id
    std::unordered_set<std::shared_ptr<Session>> wanting_;    // to visit at the next pass
    std::unordered_map<std::string, std::uint64_t> applied_;  // every node that ever acked
    std::unordered_map<std::string, NodePaths> paths_;        // connected nodes only
    std::thread thread_;
    PresenceListener* listener_ = nullptr;
    CoordinatorMetrics* metrics_ = nullptr;
    // (version, commit time) of recent map changes, ascending; under mutex_.
    static constexpr std::size_t kChangeTimes = 4096;
    std::deque<std::pair<std::uint64_t, Clock::time_point>> change_times_;
    std::uint64_t change_times_from_ = 0;  // versions after this one are in change_times_
    std::atomic<std::uint64_t> acks_epoch_{0};
    // The readiness of a node's pairs after it applied the keys set in (before, version]; under
    // mutex_. `self` is its session here, null for a node streaming to another replica.
    bool ready_after_ack(const std::string& node_id, std::uint64_t before, std::uint64_t version,
                         const std::shared_ptr<Session>& self);
};

}  // namespace mesh::coord
