#pragma once
// Everything the agent says and hears on the WireGuard port: STUN to learn its NAT mapping,
// authenticated probes to and from peers, and the answers to both. It turns datagrams and time
// into datagrams to send, and keeps the resulting view: the candidates this host reports, its
// NAT type, and the endpoint and path kind for each peer. Pure: the network loop does the I/O.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/netmap.hpp"
#include "agent/path_finder.hpp"
#include "agent/stun_discovery.hpp"
#include "kmod-bridge/device.hpp"

namespace mesh::agent {

struct Datagram {
    Endpoint peer;  // where it came from, or where it goes
    std::vector<std::uint8_t> bytes;
};

struct LocalNetwork {
    std::vector<Endpoint> host_endpoints;  // this host's addresses with the WireGuard port
    std::vector<IpPrefix> prefixes;        // this host's subnets
    bool operator==(const LocalNetwork&) const = default;
};

// What the agent tells the coordinator about its paths (PathReport in the contract).
struct PathReport {
    NatType nat = NatType::unknown;
    std::optional<Endpoint> reflexive;
    std::map<std::string, std::pair<PathKind, std::optional<Endpoint>>> peers;
    bool operator==(const PathReport&) const = default;
};

// What an engine sent and took since it was made, for the agent's /metrics.
struct PathCounters {
    std::uint64_t stun_requests = 0;    // binding requests to STUN servers
    std::uint64_t stun_answers = 0;     // answers matched to one of them
    std::uint64_t probes_sent = 0;      // authenticated probes to peers' candidates (pings too)
    std::uint64_t probe_answers = 0;    // answers to them whose integrity verified
    std::uint64_t probes_answered = 0;  // peers' probes this host answered
    PathCounters& operator+=(const PathCounters& other);
};

// The answer to one of meshctl ping's probes.
struct PingAnswer {
    std::string peer;
    Endpoint from;
    PathKind kind = PathKind::nat_direct;  // lan or nat-direct
    std::chrono::microseconds rtt{0};
};

class PathEngine {
  public:
    using WallClock = std::function<std::int64_t()>;  // unix seconds
    PathEngine(PathConfig paths, StunConfig stun, Key own_private, Key own_public,
               PathFinder::RandomTransaction random, WallClock wall_clock);

    void set_peers(const NetMap& map, TimePoint now);
    // This host's WireGuard key was rotated: every probe key is derived again at the next
    // set_peers (peers that still know the old key answer with it until their map catches up).
    void set_own_key(const Key& own_private, const Key& own_public);
    // This host's addresses; a change makes every peer be probed again and STUN be asked.
    // Returns whether they changed.
    bool set_local(LocalNetwork local, TimePoint now);
    void set_stun_servers(std::vector<Endpoint> servers, TimePoint now);
    bool has_stun_servers() const { return stun_.has_servers(); }
    // The last STUN round ended with no server answering (the servers may be gone).
    bool stun_silent() const { return stun_.silent(); }
    std::vector<Endpoint> stun_servers() const { return stun_.servers(); }

    std::vector<Datagram> on_datagram(const Datagram& in, TimePoint now);
    std::vector<Datagram> due(TimePoint now);
    TimePoint next_due() const;

    // The device's endpoint for a peer, read back from it: when it is not the one last applied,
    // WireGuard learned it from the peer's authenticated packets, and it is adopted.
    void observe_device(const std::string& peer, const std::optional<Endpoint>& device,
                        TimePoint now);
    void applied(const std::string& peer, const std::optional<Endpoint>& endpoint);
    // The device's byte counters for a peer; a change means the tunnel is in use.
    void traffic(const std::string& peer, std::uint64_t bytes, TimePoint now);

    std::map<std::string, PathSelection> selections() const { return finder_.selections(); }
    PathSelection selection(const std::string& peer) const { return finder_.selection(peer); }
    // What this host reports: its own endpoints, then its NAT mapping when that differs.
    std::vector<Endpoint> candidates() const;
    NatType nat_type() const { return stun_.nat_type(local_.host_endpoints); }
    std::optional<Endpoint> reflexive() const { return stun_.reflexive(); }

    // meshctl ping: one authenticated probe (as path probing sends) to each of `to` for the peer,
    // sent by the next due(); their answers are kept for take_ping() and change no path. Returns
    // the transactions; none for a peer not in the map, or while kMaxPings are outstanding.
    std::vector<kb::stun::TransactionId> ping(const std::string& peer,
                                              const std::vector<Endpoint>& to, TimePoint now);
    // The first answer to one of `transactions`, if any came; forget_pings() drops them all.
    std::optional<PingAnswer> take_ping(const std::vector<kb::stun::TransactionId>& transactions);
    void forget_pings(const std::vector<kb::stun::TransactionId>& transactions);
    static constexpr std::size_t kMaxPings = 64;

    const PathCounters& counters() const { return counters_; }

    bool take_paths_changed() { return finder_.take_changed(); }
    // candidates() or nat_type() changed since the last call. A new NAT mapping also makes every
    // peer be probed again: they must punch towards the new address.
    bool take_candidates_changed(TimePoint now);

  private:
    std::vector<Datagram> answer_probe(const Datagram& in, const kb::stun::Message& request,
                                       TimePoint now);
    void take_answer(const Datagram& in, const std::vector<std::uint8_t>& bytes,
                     const kb::stun::Message& answer, TimePoint now);

    Key own_private_;
    Key own_public_;
    PathFinder finder_;
    StunDiscovery stun_;
    LocalNetwork local_;
    std::map<Key, std::string> peer_by_key_;
    std::map<std::string, kb::stun::IntegrityKey> probe_keys_;  // by node id
    std::map<std::string, Endpoint> applied_;
    std::map<std::string, std::uint64_t> traffic_;  // by node id: rx + tx last seen
    WallClock wall_clock_;
    struct AnswerBudget {
        TimePoint window{};
        int answered = 0;
    };
    std::map<std::string, AnswerBudget> budgets_;  // by node id: answers per second
    struct PingSent {
        Probe probe;
        TimePoint sent;
    };
    std::vector<Probe> pings_due_;
    std::map<kb::stun::TransactionId, PingSent> pings_;
    std::map<kb::stun::TransactionId, PingAnswer> ping_answers_;
    PathFinder::RandomTransaction random_;
    std::vector<Endpoint> reported_candidates_;
    NatType reported_nat_ = NatType::unknown;
    PathCounters counters_;
};

}  // namespace mesh::agent
