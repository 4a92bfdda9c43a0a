#pragma once
// N simulated agents against a real mesh-coordinator, each doing what mesh-agent does on the
// wire: its own Ed25519 machine key and WireGuard key, Join over pinned TLS, then one Sync
// stream (challenge, signed hello, acks of every map message, readiness, endpoint reports). No
// WireGuard. Each agent keeps what it was sent as bitsets over the swarm's node indexes and
// checks the stream's order (every delta starts where the last message ended), so a run tells
// whether every receiver got every change, in order, and every pair became ready.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mesh/v1/coordinator.grpc.pb.h"

namespace mesh::load {

using Clock = std::chrono::steady_clock;
std::int64_t now_ns();

// Node ids to dense indexes 0..N-1, for the agents' bitsets; ids are learnt as they first
// appear (in a Join answer, or a map that was faster).
class IdTable {
  public:
    explicit IdTable(std::size_t capacity) : capacity_(capacity) {}
    // The index of `id`, assigned on first sight; -1 when the table is full (an unknown node).
    int index(std::string_view id);
    std::size_t size() const;

  private:
    static constexpr int kShards = 64;
    struct Shard {
        mutable std::shared_mutex mutex;
        std::unordered_map<std::uint64_t, int> ids;  // "n-" + 16 hex digits, as a number
    };
    std::size_t capacity_;
    std::atomic<int> next_{0};
    Shard shards_[kShards];
};

class Bitset {
  public:
    void resize(std::size_t bits) { words_.assign((bits + 63) / 64, 0); }
    bool set(int i);    // true when it was clear
    bool clear(int i);  // true when it was set
    bool test(int i) const;
    void reset() { std::fill(words_.begin(), words_.end(), 0); }

  private:
    std::vector<std::uint64_t> words_;
};

struct SwarmOptions {
    std::string address;      // the coordinator's host:port
    std::string fingerprint;  // its certificate's, pinned
    // Several coordinator replicas (address, fingerprint): agent i uses replica i % size, in
    // place of address and fingerprint.
    std::vector<std::pair<std::string, std::string>> replicas;
    std::string token;  // reusable, enough uses for every agent
    std::size_t agents = 200;
    std::chrono::seconds join_deadline{120};
    bool sync = true;   // false: Join only (to fill a coordinator's map)
    int endpoints = 1;  // candidates per Join (up to 16: long IPv6 ones after the first)
    bool report_after_sync = false;  // one endpoint report once the full map is in
    // At most this many agents between opening a stream and holding their whole map (0 = no
    // bound). The simulated agents share one process: without it, 10,000 streams taking their
    // full maps at once starve the callbacks that answer the next stream's challenge, the
    // coordinator's 10 s hello deadline ends those streams, and the retries thrash.
    std::size_t max_syncing = 0;
};

class Swarm;

class SimAgent;

// One Sync stream of a simulated agent (a reactor lives for one stream; a new one reconnects).
class SyncCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
  public:
    explicit SyncCall(SimAgent& agent) : agent_(agent) {}
    void OnReadDone(bool ok) override;
    void OnWriteDone(bool ok) override;
    void OnDone(const grpc::Status& status) override;

    grpc::ClientContext ctx;
    grpc::ByteBuffer read_buffer, write_buffer;
    bool writing = false;  // under the agent's mutex
    std::deque<std::string> queue;
    std::optional<std::uint64_t> pending_ack;

  private:
    SimAgent& agent_;
};

class SimAgent {
  public:
    SimAgent(Swarm& swarm, int ordinal);
    ~SimAgent();
    void join();  // asynchronous; on success the Sync stream starts by itself
    void report(const std::string& endpoint);
    void cancel();          // no more streams; the current one is cancelled
    bool finished() const;  // no callback of this agent's will come any more
    void start_sync();      // a new stream (first, or after one ended: as the agent's backoff)
    void resume();          // from the retry queue: the join again if it failed, else a stream
    // Up to `max` node indexes this agent knows but has not been told are ready (for a stalled
    // run's report), and whether a stream is open now.
    std::vector<int> not_ready(std::size_t max) const;
    bool streaming() const;

    std::string node_id;  // once joined
    int self_index = -1;
    std::atomic<bool> joined{false};
    std::atomic<bool> done{false};  // the join failed, or streams stopped after cancel()
    std::atomic<std::int64_t> joined_at{0}, complete_at{0}, ready_at{0};
    std::atomic<std::uint64_t> bytes_received{0}, messages{0}, order_errors{0}, reconnects{0};
    std::atomic<int> peers_known{0}, peers_ready{0};
    std::atomic<std::uint64_t> version{0};
    std::string address;  // the IPv4 overlay address it was given
    grpc::Status final_status;

  private:
    friend class SyncCall;
    void on_read(SyncCall& call, const grpc::ByteBuffer& bytes);
    void on_write_done(SyncCall& call, bool ok);
    void on_done(SyncCall& call, const grpc::Status& status);
    void handle(SyncCall& call, const std::string& bytes);
    void queue_write(SyncCall& call, std::string bytes, bool ack);
    void write_next_locked(SyncCall& call);

    Swarm& swarm_;
    const int ordinal_;
    unsigned char machine_pk_[32], machine_sk_[64];
    std::string fingerprint_;  // of the coordinator (replica) this agent talks to
    std::string wg_key_;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<v1::Coordinator::Stub> stub_;
    // One per attempt: a failed join (UNAVAILABLE, a TLS handshake that timed out in a storm) is
    // tried again with backoff, as mesh-agent does, so a run measures the coordinator rather
    // than the generator's first-try luck.
    std::unique_ptr<grpc::ClientContext> join_ctx_;
    int join_attempts_ = 0;
    v1::JoinRequest join_request_;
    v1::JoinResponse join_response_;

    mutable std::mutex mutex_;            // what follows: the agent's map and its current stream
    std::unique_ptr<SyncCall> call_;      // the stream in progress, if any
    std::unique_ptr<SyncCall> finished_;  // the last one that ended (freed with the next)
    bool stopping_ = false;
    bool retry_pending_ = false;
    bool holds_sync_slot_ = false;  // counted in the swarm's max_syncing
    int attempts_ = 0;
    Bitset peers_, ready_;
    bool in_full_ = false;
    std::uint64_t full_version_ = 0;
    std::uint64_t version_ = 0;
    bool synced_ = false;
};

// The trial in progress: one agent's endpoint report, and when each other agent saw it.
struct Trial {
    std::atomic<int> mover{-1};  // node index of the agent that reported
    std::atomic<std::int64_t> started_ns{0};
    std::vector<std::atomic<std::int64_t>> seen_ns;  // per agent ordinal; 0 = not yet
    std::atomic<int> seen{0};
};

class Swarm {
  public:
    explicit Swarm(SwarmOptions options);
    ~Swarm();

    void start();         // every agent joins at once, then syncs (unless options().sync is false)
    void open_streams();  // every joined agent's Sync stream, now (after a start() without sync)
    std::size_t size() const { return agents_.size(); }
    SimAgent& agent(std::size_t i) { return *agents_[i]; }
    const SwarmOptions& options() const { return options_; }
    IdTable& ids() { return ids_; }
    Trial& trial() { return trial_; }
    int ordinal_of(int node_index) const;  // -1 when not (yet) known

    // A Sync message's arrival: the trial's bookkeeping (called by the agents).
    void saw(int receiver_ordinal, int changed_node_index);
    void joined(int ordinal, int node_index);
    // Starts the agent's next stream after `delay` (the retry thread).
    void retry_later(SimAgent* agent, std::chrono::milliseconds delay);
    // options().max_syncing: a slot for an agent about to sync (false: it is queued and started
    // again once one is free), and one given back (the whole map is in, or the stream ended).
    bool enter_sync(SimAgent* agent);
    void leave_sync();
    std::atomic<int> join_failures{0};

  private:
    SwarmOptions options_;
    IdTable ids_;
    Trial trial_;
    std::vector<std::atomic<int>> ordinal_by_index_;
    std::vector<std::unique_ptr<SimAgent>> agents_;
    std::mutex retry_mutex_;
    std::condition_variable retry_wake_;
    std::multimap<Clock::time_point, SimAgent*> retries_;
    std::mutex sync_slots_mutex_;
    std::size_t syncing_ = 0;
    std::deque<SimAgent*> waiting_for_slot_;
    bool retry_stop_ = false;
    std::thread retry_thread_;
};

}  // namespace mesh::load
