#include "coordinator/hub.hpp"

#include <utility>

namespace mesh::coord {

void Hub::bump_locked() {
    ++epoch_;
    changed_.notify_all();
}

std::shared_ptr<Hub::Session> Hub::attach(const std::string& node_id) {
    std::lock_guard lock(mutex_);
    auto session = std::make_shared<Session>();
    session->node_id = node_id;
    auto& slot = sessions_[node_id];
    if (slot) slot->replaced = true;
    slot = session;
    bump_locked();
    return session;
}

void Hub::detach(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(session->node_id);
    if (it != sessions_.end() && it->second == session) {
        sessions_.erase(it);
        paths_.erase(session->node_id);
    }
}

void Hub::publish() {
    std::lock_guard lock(mutex_);
    bump_locked();
}

void Hub::set_applied(const std::string& node_id, std::uint64_t version) {
    std::lock_guard lock(mutex_);
    auto& v = applied_[node_id];
    if (v == version) return;
    v = version;
    bump_locked();
}

std::optional<std::uint64_t> Hub::applied(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    auto it = applied_.find(node_id);
    if (it == applied_.end()) return std::nullopt;
    return it->second;
}

bool Hub::connected(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    return sessions_.contains(node_id);
}

void Hub::forget(const std::string& node_id) {
    std::lock_guard lock(mutex_);
    applied_.erase(node_id);
    paths_.erase(node_id);
    bump_locked();
}

bool Hub::set_paths(const Session& session, NodePaths paths, std::optional<NodePaths>& previous) {
    std::lock_guard lock(mutex_);
    previous.reset();
    auto it = sessions_.find(session.node_id);
    if (it == sessions_.end() || it->second.get() != &session) return false;
    auto [slot, inserted] = paths_.try_emplace(session.node_id);
    if (!inserted) previous = std::move(slot->second);
    slot->second = std::move(paths);
    return true;
}

std::optional<NodePaths> Hub::paths(const std::string& node_id) const {
    std::lock_guard lock(mutex_);
    auto it = paths_.find(node_id);
    if (it == paths_.end()) return std::nullopt;
    return it->second;
}

void Hub::shutdown() {
    std::lock_guard lock(mutex_);
    shutdown_ = true;
    bump_locked();
}

bool Hub::is_shutdown() const {
    std::lock_guard lock(mutex_);
    return shutdown_;
}

std::uint64_t Hub::wait(const Session& session, std::uint64_t seen,
                        std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout,
                      [&] { return epoch_ != seen || session.replaced || shutdown_; });
    return epoch_;
}

std::uint64_t Hub::epoch() const {
    std::lock_guard lock(mutex_);
    return epoch_;
}

}  // namespace mesh::coord
