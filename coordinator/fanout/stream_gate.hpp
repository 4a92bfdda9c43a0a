#pragma once
// Bounds on Sync streams that have not said hello yet (security review, finding 1): each must
// send its hello within a deadline, and only so many may be waiting at once, in all and per
// source address. Pure: the time comes in; the coordinator's service ends the streams it names.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

namespace mesh::coord {

class StreamGate {
  public:
    using Clock = std::chrono::steady_clock;
    struct Limits {
        std::chrono::milliseconds hello_deadline{10000};
        std::size_t max_waiting = 1024;           // streams without a hello, in all
        std::size_t max_waiting_per_source = 64;  // ... from one source address
    };

    explicit StreamGate(Limits limits) : limits_(limits) {}

    // A new stream from `source` (an address without its port). Returns its ticket, or nullopt
    // when a limit is reached (the stream is refused at once).
    std::optional<std::uint64_t> admit(const std::string& source, Clock::time_point now);
    // The stream's hello arrived, or it ended: it no longer waits. Idempotent.
    void release(std::uint64_t ticket);
    // The tickets whose deadline passed by `now`, released; the caller ends those streams.
    std::set<std::uint64_t> expired(Clock::time_point now);
    // When the next deadline falls; nullopt when nothing waits.
    std::optional<Clock::time_point> next_deadline() const;
    std::size_t waiting() const { return tickets_.size(); }

  private:
    struct Waiting {
        std::string source;
        Clock::time_point deadline;
    };
    Limits limits_;
    std::uint64_t next_ticket_ = 1;
    std::unordered_map<std::uint64_t, Waiting> tickets_;
    std::multimap<Clock::time_point, std::uint64_t> deadlines_;
    std::unordered_map<std::string, std::size_t> per_source_;
};

// "ipv4:192.0.2.1:4242" / "ipv6:[2001:db8::1]:4242" (gRPC's peer string) -> the address part.
std::string peer_address(const std::string& grpc_peer);

}  // namespace mesh::coord
