#pragma once
// One thread that runs posted work in order: the coordinator's store writes that gRPC's own
// threads must not wait for (joins, key rotations, endpoint batches). Bounded, so a flood of
// joins is told to come back later instead of growing a queue without end.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace mesh::coord {

class WorkQueue {
  public:
    explicit WorkQueue(std::size_t capacity);
    ~WorkQueue();  // runs what is queued, then stops
    void start();  // the thread; before it, work waits (and post still bounds the queue)
    WorkQueue(const WorkQueue&) = delete;
    WorkQueue& operator=(const WorkQueue&) = delete;

    // False (and `work` not taken) when the queue is full or stopping.
    bool post(std::function<void()> work);
    std::size_t size() const;

  private:
    void run();
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace mesh::coord
