#include "coordinator/work_queue.hpp"

#include <spdlog/spdlog.h>

namespace mesh::coord {

WorkQueue::WorkQueue(std::size_t capacity) : capacity_(capacity) {}

void WorkQueue::start() {
    thread_ = std::thread([this] { run(); });
}

WorkQueue::~WorkQueue() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool WorkQueue::post(std::function<void()> work) {
    {
        std::lock_guard lock(mutex_);
        if (stop_ || queue_.size() >= capacity_) return false;
        queue_.push_back(std::move(work));
    }
    wake_.notify_one();
    return true;
}

std::size_t WorkQueue::size() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void WorkQueue::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left
        auto work = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        try {
            work();
        } catch (const std::exception& e) {
            // Each piece of work reports its own failure; this is only the last line of defence.
            spdlog::error("event=work_failed error=\"{}\"", e.what());
        }
        lock.lock();
    }
}

}  // namespace mesh::coord
