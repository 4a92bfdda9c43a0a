#include "coordinator/replication.hpp"

#include <sodium.h>

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <algorithm>

#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::coord {

namespace {

using Kv = ::mvccpb::KeyValue;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kOpsPerTxn = 100;  // etcd's default --max-txn-ops is 128

AckSummary to_summary(const LocalAcks& acks) {
    return {acks.version, acks.behind};
}

// What another replica's `nodes list` shows of a node's paths: its NAT and at most 64 peers,
// those without a direct path first (the ones an operator looks for). The full report stays on
// this replica; a live/ value stays small at any fleet size (etcd takes 1.5 MiB per request).
constexpr std::size_t kPublishedPeers = 64;
constexpr std::size_t kBatchBytes = 256 * 1024;

NodePaths trimmed(NodePaths paths) {
    if (paths.peers.size() <= kPublishedPeers) return paths;
    std::stable_partition(paths.peers.begin(), paths.peers.end(), [](const PeerPath& p) {
        return p.kind != PeerPath::Kind::lan && p.kind != PeerPath::Kind::nat_direct;
    });
    paths.peers.resize(kPublishedPeers);
    return paths;
}

}  // namespace

std::string make_replica_id() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string name;
    for (const char* c = host; *c && name.size() < 40; ++c) {
        const bool ok = std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '.';
        name += ok ? *c : '_';
    }
    unsigned char raw[4];
    randombytes_buf(raw, sizeof raw);
    char hex[9];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    return (name.empty() ? std::string("replica") : name) + "-" + hex;
}

Replication::Replication(EtcdStore& store, Registry& registry, Fanout& fanout, Options options)
    : store_(store),
      client_(store.client()),
      keys_(store.keys()),
      registry_(registry),
      fanout_(fanout),
      options_(std::move(options)) {}

Replication::~Replication() {
    stop();
}

void Replication::start() {
    watch_thread_ = std::thread([this] { run_watch(); });
    lease_thread_ = std::thread([this] { run_lease(); });
    publisher_thread_ = std::thread([this] { run_publisher(); });
}

void Replication::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !watch_thread_.joinable()) return;
        stopping_ = true;
        if (watch_context_) watch_context_->TryCancel();
        if (lease_context_) lease_context_->TryCancel();
    }
    wake_.notify_all();
    for (auto* t : {&watch_thread_, &lease_thread_, &publisher_thread_}) {
        if (t->joinable()) t->join();
    }
    if (auto lease = lease_.exchange(0); lease != 0) {
        try {
            client_.revoke_lease(lease);  // the others see this replica's nodes leave now
        } catch (const std::exception& e) {
            spdlog::warn("event=replica_lease_not_revoked error={}", kb::log_quote(e.what()));
        }
    }
}

bool Replication::sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    return !wake_.wait_for(lock, d, [&] { return stopping_; });
}

// --- the watch --------------------------------------------------------------------------------

void Replication::apply_kvs(const std::vector<Event>& events, bool full) {
    RemoteChanges changes;
    std::set<std::string> replicas_touched;
    std::unordered_map<std::string, Remote> full_remote;
    std::unordered_map<std::string, Summary> full_summaries;
    std::string full_reaper;
    std::int64_t full_reaper_lease = 0;
    std::unique_lock lock(mutex_);
    auto& remote = full ? full_remote : remote_;
    auto& summaries = full ? full_summaries : summaries_;
    auto& reaper = full ? full_reaper : reaper_;
    auto& reaper_lease = full ? full_reaper_lease : reaper_lease_;
    // In revision order: a stream that closed and opened again within one batch ends open.
    for (const auto& [kv, deleted] : events) {
        auto parsed = keys_.parse(kv->key());
        if (deleted) {
            switch (parsed.kind) {
                case EtcdKeys::Kind::hold:
                    try {
                        changes.holds_removed.push_back(IpPrefix::parse(parsed.name));
                    } catch (const std::exception&) {
                    }
                    break;
                case EtcdKeys::Kind::live:
                    remote.erase(parsed.name);
                    // Its stream just closed on that replica: the reaper's inactivity counts
                    // from now (that replica's last_seen reaches the store only every 10 s).
                    changes.seen.emplace_back(parsed.name, registry_.now());
                    break;
                case EtcdKeys::Kind::acks:
                    summaries.erase(parsed.name);
                    break;
                case EtcdKeys::Kind::reaper:
                    reaper.clear();
                    reaper_lease = 0;
                    break;
                default:
                    break;  // nodes/ and seen/ go with a tombstone (removed/), which says it
            }
            continue;
        }
        try {
            switch (parsed.kind) {
                case EtcdKeys::Kind::version:
                    changes.version = decode_number(kv->value(), kv->key());
                    break;
                case EtcdKeys::Kind::node:
                    changes.upserts.push_back(decode_node(kv->value(), kv->key()));
                    break;
                case EtcdKeys::Kind::removed:
                    changes.removals.push_back(
                        {parsed.name, decode_number(kv->value(), kv->key())});
                    break;
                case EtcdKeys::Kind::hold:
                    changes.holds_put.push_back(decode_hold(kv->value(), kv->key()));
                    break;
                case EtcdKeys::Kind::seen:
                    changes.seen.emplace_back(parsed.name, static_cast<std::int64_t>(decode_number(
                                                               kv->value(), kv->key())));
                    break;
                case EtcdKeys::Kind::live: {
                    auto live = decode_live(kv->value(), kv->key());
                    auto& slot = remote[parsed.name];
                    if (slot.owner_since == 0 || slot.live.replica != live.replica) {
                        slot.owner_since = kv->mod_revision();
                        replicas_touched.insert(live.replica);
                    }
                    slot.live = std::move(live);
                    break;
                }
                case EtcdKeys::Kind::acks:
                    summaries[parsed.name] = {decode_acks(kv->value(), kv->key()),
                                              kv->mod_revision()};
                    replicas_touched.insert(parsed.name);
                    break;
                case EtcdKeys::Kind::reaper:
                    if (reaper != kv->value()) {
                        spdlog::info("event=reaper_elected replica={}", kb::log_quote(kv->value()));
                    }
                    reaper = kv->value();
                    reaper_lease = kv->lease();
                    break;
                default:
                    break;
            }
        } catch (const std::exception& e) {
            spdlog::error("event=etcd_record_skipped error={}", kb::log_quote(e.what()));
        }
    }
    if (full) {
        remote_ = std::move(full_remote);
        summaries_ = std::move(full_summaries);
        reaper_ = std::move(full_reaper);
        reaper_lease_ = full_reaper_lease;
        for (const auto& [replica, s] : summaries_) replicas_touched.insert(replica);
    }
    lock.unlock();
    // The map first: a peer's key must be in it before an ack that covers it counts.
    if (!changes.empty()) registry_.apply_remote(changes);
    std::vector<std::pair<std::string, std::uint64_t>> acks;
    lock.lock();
    for (const auto& replica : replicas_touched) covered_acks(replica, acks);
    lock.unlock();
    for (const auto& [id, version] : acks) fanout_.remote_ack(id, version);
}

void Replication::covered_acks(const std::string& replica,
                               std::vector<std::pair<std::string, std::uint64_t>>& out) const {
    if (replica == options_.replica_id) return;  // this replica's own acks are its fan-out's
    auto s = summaries_.find(replica);
    if (s == summaries_.end()) return;
    for (const auto& [id, r] : remote_) {
        // A summary speaks for the nodes that streamed to its replica when it was written.
        if (r.live.replica != replica || r.owner_since >= s->second.revision) continue;
        auto behind = s->second.acks.behind.find(id);
        out.emplace_back(
            id, behind == s->second.acks.behind.end() ? s->second.acks.version : behind->second);
    }
}

void Replication::resync(std::int64_t& next_revision, std::int64_t at_revision) {
    auto response = client_.range(keys_.prefix(), prefix_range_end(keys_.prefix()), at_revision);
    std::vector<Event> events;
    events.reserve(response.kvs_size());
    for (const auto& kv : response.kvs()) events.emplace_back(&kv, false);
    apply_kvs(events, true);
    next_revision = (at_revision > 0 ? at_revision : response.header().revision()) + 1;
}

void Replication::run_watch() {
    std::int64_t next = 0;
    bool listed = false, first = true;
    auto backoff = std::chrono::milliseconds(200);
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
        }
        try {
            if (!listed) {
                // The presence keys as of the map's snapshot (its records it has already);
                // after a compaction, everything as of now.
                const std::int64_t at = first ? registry_.loaded_revision() : 0;
                first = false;
                try {
                    resync(next, at);
                } catch (const EtcdError& e) {
                    if (e.grpc_code() != grpc::StatusCode::OUT_OF_RANGE) throw;
                    spdlog::warn("event=replica_resync reason=compacted");
                    resync(next, 0);
                }
                listed = true;
            }
            grpc::ClientContext context;
            EtcdClient::require_leader(context);
            {
                std::lock_guard lock(mutex_);
                if (stopping_) return;
                watch_context_ = &context;
            }
            auto stream = client_.watch_stub().Watch(&context);
            etcdpb::WatchRequest request;
            auto* create = request.mutable_create_request();
            create->set_key(keys_.prefix());
            create->set_range_end(prefix_range_end(keys_.prefix()));
            create->set_start_revision(next);
            create->set_progress_notify(true);
            bool ok = stream->Write(request);
            etcdpb::WatchResponse response;
            bool announced = false;
            while (ok && stream->Read(&response)) {
                if (response.compact_revision() > 0) {
                    spdlog::warn("event=replica_watch_compacted revision={} compacted={}", next,
                                 response.compact_revision());
                    listed = false;
                    break;
                }
                if (response.canceled()) {
                    spdlog::warn("event=replica_watch_cancelled reason={}",
                                 kb::log_quote(response.cancel_reason()));
                    break;
                }
                if (!announced) {
                    spdlog::info("event=replica_watch_up from_revision={}", next);
                    announced = true;
                    backoff = std::chrono::milliseconds(200);
                }
                if (response.events_size() == 0) continue;
                std::vector<Event> events;
                for (const auto& ev : response.events()) {
                    events.emplace_back(&ev.kv(), ev.type() == ::mvccpb::Event::DELETE);
                    next = std::max(next, ev.kv().mod_revision() + 1);
                }
                apply_kvs(events, false);
            }
            {
                std::lock_guard lock(mutex_);
                watch_context_ = nullptr;
            }
            context.TryCancel();
            auto status = stream->Finish();
            if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
                spdlog::warn("event=replica_watch_lost error={} retry_ms={}",
                             kb::log_quote(status.error_message()), backoff.count());
            }
        } catch (const std::exception& e) {
            spdlog::warn("event=replica_watch_lost error={} retry_ms={}", kb::log_quote(e.what()),
                         backoff.count());
        }
        if (!sleep_for(backoff)) return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
}

// --- the lease --------------------------------------------------------------------------------

void Replication::run_lease() {
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
        }
        if (lease() == 0) {
            try {
                auto id = client_.grant_lease(options_.lease_ttl_seconds);
                lease_ = id;
                {
                    std::lock_guard lock(mutex_);
                    published_.clear();  // the keys of the old lease are gone with it
                    for (const auto& [node, paths] : local_) dirty_.insert(node);
                    acks_dirty_ = true;
                }
                wake_.notify_all();
                spdlog::info("event=replica_lease_granted replica={} lease={:x} ttl_s={}",
                             options_.replica_id, id, options_.lease_ttl_seconds);
            } catch (const std::exception& e) {
                spdlog::warn("event=replica_lease_failed error={}", kb::log_quote(e.what()));
                if (!sleep_for(std::chrono::milliseconds(500))) return;
                continue;
            }
        }
        grpc::ClientContext context;
        EtcdClient::require_leader(context);
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            lease_context_ = &context;
        }
        auto stream = client_.lease_stub().LeaseKeepAlive(&context);
        const auto interval = std::chrono::milliseconds(
            std::max<std::int64_t>(options_.lease_ttl_seconds * 1000 / 5, 200));
        while (true) {
            etcdpb::LeaseKeepAliveRequest request;
            request.set_id(lease());
            etcdpb::LeaseKeepAliveResponse response;
            if (!stream->Write(request) || !stream->Read(&response)) break;
            if (response.ttl() <= 0) {
                spdlog::warn("event=replica_lease_lost lease={:x} reason=expired", lease());
                lease_ = 0;
                break;
            }
            if (!sleep_for(interval)) break;
        }
        {
            std::lock_guard lock(mutex_);
            lease_context_ = nullptr;
        }
        context.TryCancel();
        stream->Finish();
        if (!sleep_for(std::chrono::milliseconds(300))) return;
    }
}

// --- publishing -------------------------------------------------------------------------------

void Replication::stream_opened(const std::string& node_id) {
    {
        std::lock_guard lock(mutex_);
        local_[node_id] = std::nullopt;
        dirty_.insert(node_id);
    }
    wake_.notify_all();
}

void Replication::stream_closed(const std::string& node_id) {
    {
        std::lock_guard lock(mutex_);
        local_.erase(node_id);
        dirty_.insert(node_id);
    }
    wake_.notify_all();
}

void Replication::paths_reported(const std::string& node_id, const NodePaths& paths) {
    {
        std::lock_guard lock(mutex_);
        auto it = local_.find(node_id);
        if (it == local_.end()) return;
        it->second = paths;
        dirty_.insert(node_id);
    }
    wake_.notify_all();
}

bool Replication::publish_once() {
    const std::int64_t lease = this->lease();
    if (lease == 0) return true;  // the lease thread marks everything again once it has one
    std::vector<std::pair<std::string, std::optional<std::string>>> writes;
    {
        std::lock_guard lock(mutex_);
        for (const auto& id : dirty_) {
            auto it = local_.find(id);
            if (it == local_.end()) {
                writes.emplace_back(id, std::nullopt);
            } else {
                std::optional<NodePaths> paths;
                if (it->second) paths = trimmed(*it->second);
                writes.emplace_back(id, encode_live({options_.replica_id, std::move(paths)}));
            }
        }
        dirty_.clear();
    }
    std::size_t done = 0;
    bool ok = true;
    try {
        etcdpb::TxnRequest batch;
        std::vector<std::string> batch_ids;
        std::size_t batch_bytes = 0;
        auto flush = [&] {
            if (batch.success_size() == 0) return;
            client_.txn(batch);
            done += batch_ids.size();
            std::lock_guard lock(mutex_);
            for (auto& id : batch_ids) published_.insert(std::move(id));
            batch.Clear();
            batch_ids.clear();
            batch_bytes = 0;
        };
        for (const auto& [id, value] : writes) {
            if (value) {
                auto* put = batch.add_success()->mutable_request_put();
                put->set_key(keys_.live(id));
                put->set_value(*value);
                put->set_lease(lease);
                batch_ids.push_back(id);
                batch_bytes += value->size() + id.size();
                if (batch.success_size() == kOpsPerTxn || batch_bytes >= kBatchBytes) flush();
                continue;
            }
            flush();
            // Only if it is still this replica's: the node may stream to another one already.
            etcdpb::TxnRequest remove;
            auto* c = remove.add_compare();
            c->set_key(keys_.live(id));
            c->set_target(etcdpb::Compare::LEASE);
            c->set_result(etcdpb::Compare::EQUAL);
            c->set_lease(lease);
            remove.add_success()->mutable_request_delete_range()->set_key(keys_.live(id));
            client_.txn(remove);
            ++done;
            std::lock_guard lock(mutex_);
            published_.erase(id);
        }
        flush();
    } catch (const std::exception& e) {
        ok = false;
        std::lock_guard lock(mutex_);
        for (std::size_t i = done; i < writes.size(); ++i) dirty_.insert(writes[i].first);
        spdlog::warn("event=replica_publish_failed pending={} error={}", writes.size() - done,
                     kb::log_quote(e.what()));
    }
    // The summary goes out even when some live/ keys could not: the ones written need it.
    try {
        // Nothing acked, attached, left or changed since the last summary: nothing to build.
        const std::uint64_t epoch = fanout_.acks_epoch();
        {
            std::lock_guard lock(mutex_);
            if (done == 0 && !acks_dirty_ && acks_written_ && epoch == acks_epoch_seen_) return ok;
        }
        auto acks = fanout_.local_acks();
        bool write_acks = false;
        {
            std::lock_guard lock(mutex_);
            // A node whose live/ key still names this replica but whose stream is gone (it closed
            // between the two reads) has applied nothing this summary could vouch for.
            for (const auto& id : published_) {
                if (!local_.contains(id) && !acks.behind.contains(id)) acks.behind[id] = 0;
            }
            write_acks = done > 0 || acks_dirty_ || !acks_written_ || *acks_written_ != acks;
            acks_dirty_ = false;
        }
        if (write_acks) {
            client_.put(keys_.acks(options_.replica_id), encode_acks(to_summary(acks)), lease);
        }
        std::lock_guard lock(mutex_);
        acks_written_ = std::move(acks);
        acks_epoch_seen_ = epoch;
    } catch (const std::exception& e) {
        ok = false;
        std::lock_guard lock(mutex_);
        acks_dirty_ = true;
        spdlog::warn("event=replica_acks_failed error={}", kb::log_quote(e.what()));
    }
    return ok;
}

void Replication::run_publisher() {
    while (true) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, options_.publish_interval, [&] { return stopping_; });
            if (stopping_) return;
        }
        if (!publish_once() && !sleep_for(std::chrono::milliseconds(500))) return;
    }
}

// --- reading the fleet ------------------------------------------------------------------------

bool Replication::connected_anywhere(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    return remote_.contains(node_id);
}

std::optional<NodePaths> Replication::remote_paths(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    auto it = remote_.find(node_id);
    if (it == remote_.end()) return std::nullopt;
    return it->second.live.paths;
}

std::optional<std::string> Replication::replica_of(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    auto it = remote_.find(node_id);
    if (it == remote_.end()) return std::nullopt;
    return it->second.live.replica;
}

std::size_t Replication::replicas_seen() const {
    std::lock_guard lock(mutex_);
    return summaries_.size();
}

bool Replication::lead_reaper() {
    const std::int64_t lease = this->lease();
    if (lease == 0) return false;
    {
        std::lock_guard lock(mutex_);
        if (reaper_ == options_.replica_id && reaper_lease_ == lease) return true;
        if (!reaper_.empty()) return false;
    }
    try {
        etcdpb::TxnRequest request;
        auto* c = request.add_compare();
        c->set_key(keys_.reaper());
        c->set_target(etcdpb::Compare::CREATE);
        c->set_result(etcdpb::Compare::EQUAL);
        c->set_create_revision(0);
        auto* put = request.add_success()->mutable_request_put();
        put->set_key(keys_.reaper());
        put->set_value(options_.replica_id);
        put->set_lease(lease);
        request.add_failure()->mutable_request_range()->set_key(keys_.reaper());
        auto response = client_.txn(request);
        std::lock_guard lock(mutex_);
        if (response.succeeded()) {
            reaper_ = options_.replica_id;
            reaper_lease_ = lease;
            return true;
        }
        const auto& kvs = response.responses(0).response_range().kvs();
        if (!kvs.empty()) {
            reaper_ = kvs[0].value();
            reaper_lease_ = kvs[0].lease();
        }
        return reaper_ == options_.replica_id && reaper_lease_ == lease;
    } catch (const std::exception& e) {
        return false;
    }
}

}  // namespace mesh::coord
