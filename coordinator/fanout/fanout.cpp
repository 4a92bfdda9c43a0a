#include "coordinator/fanout/fanout.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "coordinator/registry.hpp"

namespace mesh::coord {

Fanout::Fanout(Registry& registry, MapMessages messages, Options options)
    : registry_(registry),
      messages_(std::move(messages)),
      options_(options),
      change_times_from_(registry.version()) {}

Fanout::~Fanout() {
    shutdown();
}

void Fanout::start() {
    thread_ = std::thread([this] { run(); });
}

void Fanout::shutdown() {
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(mutex_);
        shutdown_ = true;
        stop_ = true;
        for (auto& [id, s] : sessions_) {
            s->closing = true;
            open.push_back(s);
        }
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& s : open) {
        if (s->sink) s->sink->finish(Code::unavailable, "coordinator shutting down");
    }
}

bool Fanout::is_shutdown() const {
    std::lock_guard lock(mutex_);
    return shutdown_;
}

std::shared_ptr<Fanout::Session> Fanout::attach(const std::string& node_id,
                                                std::uint64_t client_version,
                                                std::shared_ptr<StreamSink> sink) {
    auto s = std::make_shared<Session>(node_id);
    s->sink = std::move(sink);
    s->sent_version = client_version;
    s->scan_ready = client_version != 0;  // a resumed stream gets its ready set again
    std::shared_ptr<Session> replaced;
    {
        std::lock_guard lock(mutex_);
        auto& slot = sessions_[node_id];
        if (slot) {
            replaced = slot;
            replaced->closing = true;
            wanting_.erase(replaced);
        }
        slot = s;
        applied_[node_id] = client_version;  // what this stream says it has
        paths_.erase(node_id);
        if (shutdown_) s->closing = true;
        wanting_.insert(s);
        if (pending_since_ == std::chrono::steady_clock::time_point{}) {
            pending_since_ = std::chrono::steady_clock::now();
        }
    }
    wake_.notify_all();
    if (replaced && replaced->sink) {
        replaced->sink->finish(Code::cancelled, "replaced by a newer Sync stream of this node");
    }
    acks_epoch_.fetch_add(1, std::memory_order_relaxed);
    if (listener_) listener_->stream_opened(node_id);
    return s;
}

void Fanout::detach(const std::shared_ptr<Session>& session) {
    bool was_current = false;
    {
        std::lock_guard lock(mutex_);
        session->closing = true;
        wanting_.erase(session);
        auto it = sessions_.find(session->node_id);
        if (it != sessions_.end() && it->second == session) {
            sessions_.erase(it);
            paths_.erase(session->node_id);
            was_current = true;
        }
    }
    acks_epoch_.fetch_add(1, std::memory_order_relaxed);
    if (was_current && listener_) listener_->stream_closed(session->node_id);
}

bool Fanout::current(const Session& session) const {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(session.node_id);
    return it != sessions_.end() && it->second.get() == &session && !session.closing;
}

std::uint64_t Fanout::sent_version(const Session& session) const {
    std::lock_guard lock(mutex_);
    return session.sent_version;
}

void Fanout::map_changed() {
    map_changed(registry_.version());
}

void Fanout::map_changed(std::uint64_t version) {
    acks_epoch_.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(mutex_);
        map_dirty_ = true;
        last_change_ = std::chrono::steady_clock::now();
        if (change_times_.empty() ? version > change_times_from_
                                  : version > change_times_.back().first) {
            change_times_.emplace_back(version, last_change_);
            if (change_times_.size() > kChangeTimes) {
                change_times_from_ = change_times_.front().first;
                change_times_.pop_front();
            }
        }
        if (pending_since_ == std::chrono::steady_clock::time_point{}) {
            pending_since_ = std::chrono::steady_clock::now();
        }
    }
    wake_.notify_all();
}

void Fanout::want(const std::shared_ptr<Session>& s) {
    wanting_.insert(s);
    if (pending_since_ == std::chrono::steady_clock::time_point{}) {
        pending_since_ = std::chrono::steady_clock::now();
    }
}

void Fanout::write_done(const std::shared_ptr<Session>& session, bool ok) {
    std::vector<Outgoing> out;
    bool notify = false;
    {
        std::lock_guard lock(mutex_);
        session->writing = false;
        if (!ok) session->closing = true;
        if (session->closing) return;
        if (!session->queue.empty()) {
            // The rest of a full map (or of a ready batch) goes on at once: it is one message.
            session->writing = true;
            out.push_back({session, std::move(session->queue.front())});
            session->queue.pop_front();
        } else if (!session->sent_any || session->sent_version < registry_.version() ||
                   !session->initiate.empty() || !session->respond.empty()) {
            want(session);
            notify = true;
        }
    }
    if (notify) wake_.notify_all();
    send(out);
}

void Fanout::queue_ready(const std::string& node_id, const std::string& peer, bool initiate) {
    auto it = sessions_.find(node_id);
    if (it == sessions_.end() || it->second->closing) return;
    auto& s = it->second;
    (initiate ? s->initiate : s->respond).push_back(peer);
    want(s);
}

bool Fanout::post(const Session& session, WireMessage message) {
    {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(session.node_id);
        if (it == sessions_.end() || it->second.get() != &session || it->second->closing) {
            return false;
        }
        it->second->queue.push_back(std::move(message));
        if (!it->second->writing) want(it->second);
    }
    wake_.notify_all();
    return true;
}

bool Fanout::ack(const Session& session, std::uint64_t version) {
    bool any = false;
    {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(session.node_id);
        if (it == sessions_.end() || it->second.get() != &session) return false;
        version = std::min(version, session.sent_version);
        auto& applied = applied_[session.node_id];
        if (version <= applied) return false;
        const std::uint64_t before = applied;
        applied = version;
        acks_epoch_.fetch_add(1, std::memory_order_relaxed);
        any = ready_after_ack(session.node_id, before, version, it->second);
    }
    if (any) wake_.notify_all();
    return true;
}

void Fanout::remote_ack(const std::string& node_id, std::uint64_t version) {
    bool any = false;
    {
        std::lock_guard lock(mutex_);
        if (sessions_.contains(node_id)) return;
        auto& applied = applied_[node_id];
        if (version <= applied) return;
        const std::uint64_t before = applied;
        applied = version;
        any = ready_after_ack(node_id, before, version, nullptr);
    }
    if (any) wake_.notify_all();
}

bool Fanout::ready_after_ack(const std::string& node_id, std::uint64_t before,
                             std::uint64_t version, const std::shared_ptr<Session>& self_session) {
    bool any = false;
    // A pair is ready once each side applied the other's current key. This ack makes the
    // node hold the keys set in (before, version]: for each, the pair is ready now if the
    // peer already holds this node's key; otherwise the peer's own ack will find it.
    // In a storm of joins this runs for every pair of the mesh: two lookups per peer.
    registry_.with_map([&](const MeshMap& map) {
        const auto* self = map.find(node_id);
        if (!self || self->record.expired) return;
        const std::uint64_t own_key = self->record.key_version;
        map.for_keys_set_in(before, version, [&](const MapNode& peer) {
            const auto& p = peer.record;
            if (p.expired || p.id == node_id) return;
            auto theirs = applied_.find(p.id);
            if (theirs == applied_.end() || theirs->second < own_key) return;
            const bool younger =
                own_key > p.key_version || (own_key == p.key_version && node_id > p.id);
            if (self_session && !self_session->closing) {
                (younger ? self_session->initiate : self_session->respond).push_back(p.id);
            }
            queue_ready(p.id, node_id, !younger);
            any = true;
        });
    });
    if (any && self_session && !self_session->closing) want(self_session);
    return any;
}

LocalAcks Fanout::local_acks() const {
    LocalAcks out;
    out.version = registry_.with_map([](const MeshMap& map) { return map.newest_key_version(); });
    std::lock_guard lock(mutex_);
    for (const auto& [id, s] : sessions_) {
        auto a = applied_.find(id);
        const std::uint64_t applied = a == applied_.end() ? 0 : a->second;
        if (applied < out.version) out.behind[id] = applied;
    }
    return out;
}

bool Fanout::connected(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    return sessions_.contains(node_id);
}

std::optional<std::uint64_t> Fanout::applied(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    auto it = applied_.find(node_id);
    if (it == applied_.end()) return std::nullopt;
    return it->second;
}

void Fanout::forget(const std::string& node_id) {
    std::lock_guard lock(mutex_);
    applied_.erase(node_id);
    paths_.erase(node_id);
}

bool Fanout::set_paths(const Session& session, NodePaths paths,
                       std::optional<NodePaths>& previous) {
    {
        std::lock_guard lock(mutex_);
        previous.reset();
        auto it = sessions_.find(session.node_id);
        if (it == sessions_.end() || it->second.get() != &session) return false;
        auto [slot, inserted] = paths_.try_emplace(session.node_id);
        if (!inserted) previous = std::move(slot->second);
        slot->second = paths;
    }
    if (listener_) listener_->paths_reported(session.node_id, paths);
    return true;
}

std::optional<NodePaths> Fanout::paths(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    auto it = paths_.find(node_id);
    if (it == paths_.end()) return std::nullopt;
    return it->second;
}

std::size_t Fanout::session_count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

// Every peer whose pair with `s`'s node is ready now, for a stream that resumed.
void Fanout::add_ready_set(const MeshMap& map, Session& s) {
    const auto* self = map.find(s.node_id);
    auto mine = applied_.find(s.node_id);
    if (!self || mine == applied_.end()) return;
    const std::uint64_t own_key = self->record.key_version;
    for (const auto& [id, peer] : map.nodes()) {
        const auto& p = peer.record;
        if (id == s.node_id || p.expired || mine->second < p.key_version) continue;
        auto theirs = applied_.find(id);
        if (theirs == applied_.end() || theirs->second < own_key) continue;
        const bool younger =
            own_key > p.key_version || (own_key == p.key_version && s.node_id > id);
        (younger ? s.initiate : s.respond).push_back(id);
    }
}

Fanout::Clock::time_point Fanout::changed_after(std::uint64_t version) const {
    if (version < change_times_from_) return {};
    auto it = std::upper_bound(change_times_.begin(), change_times_.end(), version,
                               [](std::uint64_t v, const auto& entry) { return v < entry.first; });
    return it == change_times_.end() ? Clock::time_point{} : it->second;
}

SentKind Fanout::queue_map(const MeshMap& map, Session& s,
                           std::map<std::uint64_t, std::optional<SharedDelta>>& shared,
                           std::vector<WireMessage>& messages) {
    const auto& self = *map.find(s.node_id);
    const std::uint64_t version = map.version();
    const bool resumable = s.sent_version != 0 && s.sent_version <= version;
    std::optional<WireMessage> delta;
    if (resumable) {
        auto it = shared.find(s.sent_version);
        if (it == shared.end()) {
            it = shared.emplace(s.sent_version, messages_.shared_delta(map, s.sent_version)).first;
        }
        if (it->second && !it->second->touched.contains(s.node_id)) {
            delta = it->second->message;  // the same bytes as every other stream at this version
        } else if (it->second) {
            delta = messages_.delta(map, s.sent_version, s.node_id);  // its own record changed
        }
    }
    const SentKind kind = delta ? SentKind::delta : SentKind::full_map;
    if (delta) {
        messages.push_back(std::move(*delta));
    } else {
        messages = messages_.full(map, self);  // never synced, unknown version, or far behind
    }
    s.sent_version = version;
    s.sent_any = true;
    return kind;
}

void Fanout::service(const MeshMap& map, const std::shared_ptr<Session>& s,
                     std::map<std::uint64_t, std::optional<SharedDelta>>& shared,
                     std::vector<Outgoing>& out) {
    if (s->writing || s->closing) return;
    if (!s->queue.empty()) {
        s->writing = true;
        out.push_back({s, std::move(s->queue.front())});
        s->queue.pop_front();
        return;
    }
    const auto* self = map.find(s->node_id);
    if (!self || self->record.expired) {
        // Removed by the operator, or its key expired: told in-band (cancelling drops the
        // status), then the stream ends.
        s->closing = true;
        s->writing = true;
        out.push_back({s, MapMessages::removed_self(s->sent_version, map.version(), s->node_id),
                       SentKind::delta, changed_after(s->sent_version)});
        applied_.erase(s->node_id);
        return;
    }
    std::vector<WireMessage> messages;
    SentKind kind = SentKind::other;
    Clock::time_point changed{};
    if (!s->sent_any || s->sent_version < map.version()) {
        const std::uint64_t from = s->sent_version;
        kind = queue_map(map, *s, shared, messages);
        if (kind == SentKind::delta && metrics_) changed = changed_after(from);
    }
    if (s->scan_ready) {
        s->scan_ready = false;
        add_ready_set(map, *s);
    }
    if (!s->initiate.empty() || !s->respond.empty()) {
        for (auto& m : messages_.ready(s->initiate, s->respond)) messages.push_back(std::move(m));
        s->initiate.clear();
        s->respond.clear();
    }
    if (messages.empty()) return;
    s->writing = true;
    out.push_back({s, std::move(messages.front()), kind, changed});
    for (std::size_t i = 1; i < messages.size(); ++i) s->queue.push_back(std::move(messages[i]));
}

void Fanout::send(std::vector<Outgoing>& out) {
    for (auto& o : out) {
        const bool closing_after = [&] {
            std::lock_guard lock(mutex_);
            return o.session->closing;
        }();
        if (!o.session->sink) {
            // No stream behind this session (tests drive the fan-out without gRPC).
            std::lock_guard lock(mutex_);
            o.session->writing = false;
            continue;
        }
        const std::size_t bytes = metrics_ ? o.message.size() : 0;
        if (!o.session->sink->write(std::move(o.message))) {
            std::lock_guard lock(mutex_);
            o.session->closing = true;
            o.session->writing = false;
            continue;
        }
        if (metrics_) {
            metrics_->sent(o.kind, bytes);
            if (o.changed != Clock::time_point{}) {
                metrics_->fanout_latency(Clock::now() - o.changed);
            }
        }
        if (closing_after) o.session->sink->finish(Code::cancelled, "this node was removed");
    }
}

void Fanout::pass_now() {
    std::vector<Outgoing> out;
    {
        std::lock_guard lock(mutex_);
        pending_since_ = {};
        registry_.with_map([&](const MeshMap& map) {
            const bool moved = map_dirty_ || map.version() != pass_version_;
            map_dirty_ = false;
            std::map<std::uint64_t, std::optional<SharedDelta>> shared;
            if (moved && pass_version_ != 0) {
                // Removed nodes keep no bookkeeping, connected or not.
                for (const auto& id : map.since(pass_version_).removed) applied_.erase(id);
            }
            if (moved) {
                for (auto& [id, s] : sessions_) service(map, s, shared, out);
            } else {
                for (const auto& s : wanting_) service(map, s, shared, out);
            }
            wanting_.clear();
            pass_version_ = map.version();
        });
    }
    send(out);
}

void Fanout::run() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        wake_.wait(lock, [&] { return stop_ || map_dirty_ || !wanting_.empty(); });
        if (stop_) break;
        // Coalesce: what arrives while changes keep coming (up to max_window) goes out in the
        // same pass.
        for (;;) {
            const auto latest = pending_since_ + options_.max_window;
            const auto quiet = std::max(pending_since_, last_change_) + options_.window;
            const auto due = std::min(latest, quiet);
            if (std::chrono::steady_clock::now() >= due) break;
            wake_.wait_until(lock, due, [&] { return stop_; });
            if (stop_) break;
        }
        if (stop_) break;
        lock.unlock();
        try {
            pass_now();
        } catch (const std::exception& e) {
            spdlog::error("event=fanout_failed error=\"{}\"", e.what());
        }
        lock.lock();
    }
}

}  // namespace mesh::coord
