#pragma once
// What makes one coordinator a replica among several on etcd (issue 14):
// - the watch: every change another replica commits reaches this replica's map (and so its
//   fan-out) exactly as a local change does, in etcd's revision order, from the revision the
//   map was loaded at; a watch that falls behind etcd's compaction reloads the whole state;
// - presence: this replica holds one etcd lease and, under it, a live/ key per node streaming
//   here (with its last path report) and one acks/ summary of what those nodes applied. A
//   replica that dies loses its lease within its TTL and its keys with it. Every replica watches
//   the others' keys: `nodes list` anywhere shows the whole fleet, and a pair whose two nodes
//   stream to different replicas becomes ready when each side applied the other's key;
// - the reaper's election: one replica at a time holds the reaper key (under its lease).
// Threads: one watch, one lease keepalive, one publisher (etcd writes never run on gRPC's or the
// fan-out's threads). With etcd unreachable, the replica keeps serving its streams from the map
// it has and publishes what changed once etcd is back.
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "coordinator/etcd_records.hpp"
#include "coordinator/etcd_store.hpp"
#include "coordinator/fanout/fanout.hpp"
#include "coordinator/registry.hpp"

namespace mesh::coord {

class Replication final : public PresenceListener {
  public:
    struct Options {
        std::string replica_id;  // unique among the replicas of the fleet
        std::int64_t lease_ttl_seconds = 5;
        std::chrono::milliseconds publish_interval{50};
    };

    Replication(EtcdStore& store, Registry& registry, Fanout& fanout, Options options);
    ~Replication() override;
    Replication(const Replication&) = delete;
    Replication& operator=(const Replication&) = delete;

    void start();
    // Withdraws this replica's presence (revokes its lease, so the others see its nodes leave at
    // once, not after the TTL) and stops the threads.
    void stop();

    // PresenceListener (from the fan-out): queued for the publisher.
    void stream_opened(const std::string& node_id) override;
    void stream_closed(const std::string& node_id) override;
    void paths_reported(const std::string& node_id, const NodePaths& paths) override;

    // The fleet as every replica published it: whether the node streams to any replica (this one
    // included, as far as etcd shows it), its last path report, and the replica.
    bool connected_anywhere(const std::string& node_id) const;
    std::optional<NodePaths> remote_paths(const std::string& node_id) const;
    std::optional<std::string> replica_of(const std::string& node_id) const;
    // Whether this replica holds the reaper key now (tries to take it when nobody does).
    bool lead_reaper();
    const std::string& replica_id() const { return options_.replica_id; }
    std::size_t replicas_seen() const;  // replicas with an acks/ key, this one included

  private:
    struct Remote {
        LiveNode live;
        std::int64_t owner_since = 0;  // revision at which live.replica last changed
    };
    struct Summary {
        AckSummary acks;
        std::int64_t revision = 0;
    };

    void run_watch();
    void run_lease();
    void run_publisher();
    // A watched key-value and whether it was deleted.
    using Event = std::pair<const ::mvccpb::KeyValue*, bool>;
    // Applies one batch of watched events (or a full listing, `full`), in revision order.
    void apply_kvs(const std::vector<Event>& events, bool full);
    void resync(std::int64_t& next_revision, std::int64_t at_revision);
    // For each node streaming to `replica` that its summary covers, its applied version to the
    // fan-out. Under mutex_; collects (node, version) pairs to hand on after unlocking.
    void covered_acks(const std::string& replica,
                      std::vector<std::pair<std::string, std::uint64_t>>& out) const;
    bool publish_once();
    std::int64_t lease() const { return lease_.load(); }
    bool sleep_for(std::chrono::milliseconds d);  // false once stopping

    EtcdStore& store_;
    EtcdClient& client_;
    const EtcdKeys& keys_;
    Registry& registry_;
    Fanout& fanout_;
    const Options options_;

    mutable std::mutex mutex_;  // guards the state below
    std::condition_variable wake_;
    bool stopping_ = false;
    std::unordered_map<std::string, Remote> remote_;      // live/ keys, every replica's
    std::unordered_map<std::string, Summary> summaries_;  // acks/ keys, by replica
    std::string reaper_;                                  // who holds the reaper key
    std::int64_t reaper_lease_ = 0;
    // Publisher: what this replica has open (node -> its last paths), and what to write.
    std::unordered_map<std::string, std::optional<NodePaths>> local_;
    std::set<std::string> dirty_;
    std::set<std::string> published_;  // nodes whose live/ key this replica wrote and holds
    bool acks_dirty_ = true;
    std::optional<LocalAcks> acks_written_;
    std::uint64_t acks_epoch_seen_ = 0;  // the fan-out's acks_epoch() acks_written_ was built at

    std::atomic<std::int64_t> lease_{0};
    grpc::ClientContext* watch_context_ = nullptr;  // under mutex_, to cancel at stop
    grpc::ClientContext* lease_context_ = nullptr;
    std::thread watch_thread_, lease_thread_, publisher_thread_;
};

// A replica id: the host name and a random suffix (a restarted replica is a new one; the old
// one's lease runs out by itself).
std::string make_replica_id();

}  // namespace mesh::coord
