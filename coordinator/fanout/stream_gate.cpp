#include "coordinator/fanout/stream_gate.hpp"

namespace mesh::coord {

std::optional<std::uint64_t> StreamGate::admit(const std::string& source, Clock::time_point now) {
    if (tickets_.size() >= limits_.max_waiting) return std::nullopt;
    auto& from_source = per_source_[source];
    if (from_source >= limits_.max_waiting_per_source) return std::nullopt;
    ++from_source;
    const std::uint64_t ticket = next_ticket_++;
    const auto deadline = now + limits_.hello_deadline;
    tickets_.emplace(ticket, Waiting{source, deadline});
    deadlines_.emplace(deadline, ticket);
    return ticket;
}

void StreamGate::release(std::uint64_t ticket) {
    auto it = tickets_.find(ticket);
    if (it == tickets_.end()) return;
    auto range = deadlines_.equal_range(it->second.deadline);
    for (auto d = range.first; d != range.second; ++d) {
        if (d->second == ticket) {
            deadlines_.erase(d);
            break;
        }
    }
    auto source = per_source_.find(it->second.source);
    if (source != per_source_.end() && --source->second == 0) per_source_.erase(source);
    tickets_.erase(it);
}

std::set<std::uint64_t> StreamGate::expired(Clock::time_point now) {
    std::set<std::uint64_t> out;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        out.insert(deadlines_.begin()->second);
        release(deadlines_.begin()->second);
    }
    return out;
}

std::optional<StreamGate::Clock::time_point> StreamGate::next_deadline() const {
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.begin()->first;
}

std::string peer_address(const std::string& grpc_peer) {
    auto colon = grpc_peer.find(':');
    std::string rest = colon == std::string::npos ? grpc_peer : grpc_peer.substr(colon + 1);
    auto port = rest.rfind(':');
    auto close = rest.rfind(']');
    if (port == std::string::npos || (close != std::string::npos && close > port)) return rest;
    return rest.substr(0, port);
}

}  // namespace mesh::coord
