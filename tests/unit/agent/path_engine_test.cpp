// Path engines of several hosts talking through a simulated network of LANs and NATs: the NATs
// keep mappings like Linux conntrack (a mapping per inside endpoint, or per destination with
// `random`; inbound only from a destination the inside host sent to), a STUN server answers on
// two ports, and a "coordinator" copies each host's reported candidates into the others' maps.
#include <catch2/catch.hpp>

#include <cstring>
#include <deque>
#include <map>
#include <optional>

#include "agent/host_endpoints.hpp"
#include "agent/keys.hpp"
#include "agent/path_engine.hpp"
#include "agent/probe_key.hpp"

using namespace mesh;
using namespace mesh::agent;
using kb::IpAddress;

namespace {

const Endpoint kStun = Endpoint::parse("203.0.113.254:3478");
const Endpoint kStunAlt = Endpoint::parse("203.0.113.254:3479");

struct Nat {
    IpAddress public_ip;
    bool random = false;  // endpoint-dependent mapping
    struct Mapping {
        Endpoint inside;
        Endpoint remote;
        std::uint16_t port;
    };
    std::vector<Mapping> mappings;
    std::uint16_t next_port = 40000;

    Endpoint outbound(const Endpoint& inside, const Endpoint& remote) {
        for (const auto& m : mappings) {
            if (m.inside == inside && (m.remote == remote || !random)) {
                auto port = m.port;  // push_back below may move the mappings
                if (m.remote != remote) mappings.push_back({inside, remote, port});
                return {public_ip, port};
            }
        }
        auto port = random ? next_port++ : inside.port;
        mappings.push_back({inside, remote, port});
        return {public_ip, port};
    }
    // The inside endpoint for a packet from `remote` to our public `port`, if it was solicited.
    std::optional<Endpoint> inbound(const Endpoint& remote, std::uint16_t port) const {
        for (const auto& m : mappings) {
            if (m.port == port && m.remote == remote) return m.inside;
        }
        return std::nullopt;
    }
};

struct Host {
    std::string id;
    Keys keys = Keys::generate();
    std::string site;
    Endpoint local;
    std::unique_ptr<PathEngine> engine;
};

constexpr std::int64_t kWallTime = 1'800'000'000;
std::int64_t wall_clock() {
    return kWallTime;
}

kb::stun::TransactionId counter_transaction() {
    static std::uint64_t n = 0;
    kb::stun::TransactionId t{};
    ++n;
    std::memcpy(t.data(), &n, sizeof n);
    return t;
}

struct Net {
    std::map<std::string, Nat> nats;  // by site; a site's LAN is 10.<index>.0.0/24
    std::map<std::string, Host> hosts;
    TimePoint now{};
    int delivered = 0;

    Host& add(const std::string& id, const std::string& site, const std::string& local) {
        Host& h = hosts[id];
        h.id = id;
        h.site = site;
        h.local = Endpoint::parse(local);
        h.engine =
            std::make_unique<PathEngine>(PathConfig{}, StunConfig{}, h.keys.wireguard_private,
                                         h.keys.wireguard_public, counter_transaction, wall_clock);
        set_local(h);
        h.engine->set_stun_servers({kStun, kStunAlt}, now);
        return h;
    }
    void set_local(Host& h) {
        LocalNetwork l;
        l.host_endpoints = {h.local};
        l.prefixes = {kb::IpPrefix{h.local.address, 24}.masked()};
        h.engine->set_local(l, now);
    }
    Host* host_at(const std::string& site, const Endpoint& e) {
        for (auto& [id, h] : hosts) {
            if (h.site == site && h.local == e) return &h;
        }
        return nullptr;
    }
    std::string site_of_public(const IpAddress& a) {
        for (auto& [site, nat] : nats) {
            if (nat.public_ip == a) return site;
        }
        return "";
    }

    // Carries one datagram from `sender`; answers of the STUN server come back at once.
    void route(Host& sender, const Datagram& d, std::deque<std::pair<Host*, Datagram>>& queue) {
        Host* lan = host_at(sender.site, d.peer);
        if (lan) {
            queue.push_back({lan, Datagram{sender.local, d.bytes}});
            return;
        }
        Nat& nat = nats.at(sender.site);
        Endpoint source = nat.outbound(sender.local, d.peer);
        if (d.peer == kStun || d.peer == kStunAlt) {
            auto request = kb::stun::decode(d.bytes);
            if (!request || request->type != kb::stun::Type::binding_request) return;
            kb::stun::Message answer;
            answer.type = kb::stun::Type::binding_success;
            answer.transaction = request->transaction;
            answer.mapped = source;
            if (auto inside = nat.inbound(d.peer, source.port)) {
                if (Host* h = host_at(sender.site, *inside)) {
                    queue.push_back({h, Datagram{d.peer, kb::stun::encode(answer)}});
                }
            }
            return;
        }
        auto site = site_of_public(d.peer.address);
        if (site.empty()) return;
        auto inside = nats.at(site).inbound(source, d.peer.port);
        if (!inside) return;  // unsolicited: dropped
        if (Host* h = host_at(site, *inside)) queue.push_back({h, Datagram{source, d.bytes}});
    }

    // The coordinator: every host's map lists every other host with its reported candidates.
    void publish() {
        for (auto& [id, h] : hosts) {
            NetMap map;
            for (auto& [other_id, other] : hosts) {
                if (other_id == id) continue;
                PeerInfo p;
                p.node_id = other_id;
                p.public_key = other.keys.wireguard_public;
                p.endpoints = other.engine->candidates();
                map.peers[other_id] = p;
            }
            h.engine->set_peers(map, now);
        }
    }

    void step() {
        bool changed = false;
        for (auto& [id, h] : hosts) changed |= h.engine->take_candidates_changed(now);
        if (changed) publish();
        std::deque<std::pair<Host*, Datagram>> queue;
        for (auto& [id, h] : hosts) {
            for (const auto& d : h.engine->due(now)) route(h, d, queue);
        }
        for (int bound = 0; !queue.empty() && bound < 10000; ++bound) {
            auto [to, d] = queue.front();
            queue.pop_front();
            ++delivered;
            for (const auto& answer : to->engine->on_datagram(d, now)) route(*to, answer, queue);
        }
        for (auto& [id, h] : hosts) h.engine->take_paths_changed();
        now += milliseconds(5);
    }

    // Runs until `done` holds; returns the simulated time it took, or nullopt after `limit`.
    template <class Done>
    std::optional<milliseconds> run_until(Done done, milliseconds limit = milliseconds(10000)) {
        auto start = now;
        while (now - start <= limit) {
            step();
            if (done()) return std::chrono::duration_cast<milliseconds>(now - start);
        }
        return std::nullopt;
    }

    PathSelection path(const std::string& from, const std::string& to) {
        return hosts.at(from).engine->selection(to);
    }
    bool direct(const std::string& a, const std::string& b, PathKind kind) {
        return path(a, b).kind == kind && path(b, a).kind == kind && path(a, b).verified &&
               path(b, a).verified;
    }
};

Net two_sites(bool random_a, bool random_b) {
    Net net;
    net.nats["s1"].public_ip = IpAddress::parse("203.0.113.1");
    net.nats["s1"].random = random_a;
    net.nats["s2"].public_ip = IpAddress::parse("203.0.113.2");
    net.nats["s2"].random = random_b;
    net.add("a", "s1", "10.1.0.2:51820");
    net.add("b", "s2", "10.2.0.2:51820");
    net.publish();
    return net;
}

// A probe from 198.51.100.9 that claims to be `claimed`, signed with another key (or unsigned).
Datagram forged_probe(Net& net, const std::string& claimed, bool signed_probe = true) {
    kb::stun::Message m;
    m.transaction = counter_transaction();
    m.username =
        net.hosts.at(claimed).keys.wireguard_public.to_base64() + ":" + std::to_string(kWallTime);
    kb::stun::IntegrityKey wrong{};
    wrong.fill(7);
    return Datagram{Endpoint::parse("198.51.100.9:4000"),
                    signed_probe ? kb::stun::encode(m, &wrong) : kb::stun::encode(m)};
}

}  // namespace

TEST_CASE("two hosts on one LAN use their LAN addresses", "[paths]") {
    Net net;
    net.nats["s1"].public_ip = IpAddress::parse("203.0.113.1");
    net.add("a", "s1", "10.1.0.2:51820");
    net.add("b", "s1", "10.1.0.3:51820");
    net.publish();
    auto took = net.run_until([&] { return net.direct("a", "b", PathKind::lan); });
    REQUIRE(took);
    CHECK(*took < milliseconds(100));
    CHECK(net.path("a", "b").endpoint == Endpoint::parse("10.1.0.3:51820"));
    CHECK(net.path("b", "a").endpoint == Endpoint::parse("10.1.0.2:51820"));
    // Both reported their NAT mapping too, and it stays unused.
    CHECK(net.hosts.at("a").engine->candidates().size() == 2);
}

TEST_CASE("two hosts behind two NATs punch a direct path", "[paths]") {
    Net net = two_sites(false, false);
    auto took = net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); });
    REQUIRE(took);
    CHECK(*took < milliseconds(500));
    CHECK(net.path("a", "b").endpoint == Endpoint::parse("203.0.113.2:51820"));
    CHECK(net.path("b", "a").endpoint == Endpoint::parse("203.0.113.1:51820"));
    CHECK(net.hosts.at("a").engine->nat_type() == NatType::endpoint_independent);
}

TEST_CASE("endpoint-dependent NATs on both sides: no direct path", "[paths]") {
    Net net = two_sites(true, true);
    auto took = net.run_until([&] {
        return net.path("a", "b").kind == PathKind::none &&
               net.path("b", "a").kind == PathKind::none;
    });
    REQUIRE(took);
    CHECK(*took <= milliseconds(3500));
    CHECK(net.hosts.at("a").engine->nat_type() == NatType::endpoint_dependent);
    CHECK(net.hosts.at("b").engine->nat_type() == NatType::endpoint_dependent);
    CHECK(net.path("a", "b").given_up);
}

TEST_CASE("a NAT that changes its public address: the path follows", "[paths]") {
    // The change lands at five phases of the 500 ms check cadence.
    auto settle = GENERATE(1000, 1100, 1200, 1300, 1400);
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    net.run_until([] { return false; }, milliseconds(settle));
    auto& nat = net.nats.at("s1");
    nat.public_ip = IpAddress::parse("203.0.113.77");
    nat.mappings.clear();
    auto took = net.run_until([&] {
        return net.path("b", "a").endpoint == Endpoint::parse("203.0.113.77:51820") &&
               net.path("b", "a").verified && net.direct("a", "b", PathKind::nat_direct);
    });
    REQUIRE(took);
    // The next check (within 500 ms), its 250 ms timeout, STUN, the new candidates, punching.
    CHECK(*took < milliseconds(800));
}

TEST_CASE("a host that moves to another site: the path follows", "[paths]") {
    Net net = two_sites(false, false);
    net.nats["s3"].public_ip = IpAddress::parse("203.0.113.3");
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    Host& a = net.hosts.at("a");
    a.site = "s3";
    a.local = Endpoint::parse("10.3.0.2:51820");
    net.set_local(a);  // what the agent does on the rtnetlink event
    auto took = net.run_until([&] {
        return net.path("b", "a").endpoint == Endpoint::parse("203.0.113.3:51820") &&
               net.direct("a", "b", PathKind::nat_direct);
    });
    REQUIRE(took);
    CHECK(*took < milliseconds(500));
}

TEST_CASE("a NAT that drops its mappings: the checks open them again", "[paths]") {
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    net.nats.at("s1").mappings.clear();
    // The next check from a re-creates a's mapping towards b, so b's probes get in again.
    int before = net.delivered;
    net.run_until([] { return false; }, milliseconds(1200));
    CHECK(net.delivered > before);
    CHECK(net.direct("a", "b", PathKind::nat_direct));
    CHECK(net.path("b", "a").endpoint == Endpoint::parse("203.0.113.1:51820"));
}

TEST_CASE("probes with the wrong key get no answer, forged answers are ignored", "[paths]") {
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    Host& a = net.hosts.at("a");
    // A request that claims to be b but is signed with another key.
    auto out = a.engine->on_datagram(forged_probe(net, "b"), net.now);
    CHECK(out.empty());
    // Without integrity at all.
    out = a.engine->on_datagram(forged_probe(net, "b", false), net.now);
    CHECK(out.empty());
    // An unauthenticated "answer" changes nothing.
    kb::stun::Message answer;
    answer.type = kb::stun::Type::binding_success;
    answer.transaction = counter_transaction();
    answer.mapped = Endpoint::parse("198.51.100.9:4000");
    a.engine->on_datagram(Datagram{Endpoint::parse("198.51.100.9:4000"), kb::stun::encode(answer)},
                          net.now);
    CHECK(a.engine->selection("b").endpoint == Endpoint::parse("203.0.113.2:51820"));
}

TEST_CASE("a recorded probe is answered only while it is fresh", "[paths]") {
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    Host& a = net.hosts.at("a");
    Host& b = net.hosts.at("b");
    auto key = probe_key(b.keys.wireguard_private, a.keys.wireguard_public);
    auto probe = [&](std::int64_t sent) {
        kb::stun::Message m;
        m.transaction = counter_transaction();
        m.username = b.keys.wireguard_public.to_base64() + ":" + std::to_string(sent);
        return Datagram{Endpoint::parse("203.0.113.2:51820"), kb::stun::encode(m, &key)};
    };
    CHECK(a.engine->on_datagram(probe(kWallTime), net.now).size() == 1);
    CHECK(a.engine->on_datagram(probe(kWallTime - 25), net.now).size() == 1);
    CHECK(a.engine->on_datagram(probe(kWallTime - 31), net.now).empty());  // a replay, too old
    CHECK(a.engine->on_datagram(probe(kWallTime + 31), net.now).empty());
    // However fresh, at most 64 answers a second per peer.
    int answered = 0;
    for (int i = 0; i < 200; ++i)
        answered += !a.engine->on_datagram(probe(kWallTime), net.now).empty();
    CHECK(answered <= 64);
}

TEST_CASE("a peer's long candidate list is cut to 16", "[paths]") {
    PathFinder finder(PathConfig{}, counter_transaction);
    std::vector<Endpoint> many;
    for (int i = 1; i <= 64; ++i)
        many.push_back(Endpoint::parse("198.51.100." + std::to_string(i) + ":51820"));
    finder.set_peers({{"x", many}}, TimePoint{});
    auto probes = finder.due(TimePoint{});
    CHECK(probes.size() == 16);
    finder.set_peers({{"x", many}}, TimePoint{} + milliseconds(10));  // unchanged: no new burst
    CHECK(finder.due(TimePoint{} + milliseconds(10)).empty());
}

TEST_CASE("an endpoint the device learned is adopted, one we set is not 'observed'", "[paths]") {
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    auto& engine = *net.hosts.at("a").engine;
    auto chosen = engine.selection("b").endpoint;
    engine.applied("b", chosen);
    engine.observe_device("b", chosen, net.now);
    CHECK(engine.selection("b").endpoint == chosen);
    auto roamed = Endpoint::parse("203.0.113.9:6000");
    engine.observe_device("b", roamed, net.now);
    CHECK(engine.selection("b").endpoint == roamed);
    // It does not answer probes (nobody is there): after two missed checks probing starts over
    // and finds b where it really is.
    auto took = net.run_until([&] { return engine.selection("b").endpoint == chosen; });
    REQUIRE(took);
    CHECK(*took < milliseconds(2000));
}

TEST_CASE("host endpoints and subnets leave out loopback, link-local, the overlay, the mesh",
          "[paths]") {
    NetworkSettings network;
    std::vector<InterfaceAddress> addresses = {
        {"lo", IpAddress::parse("127.0.0.1"), 8},
        {"eth0", IpAddress::parse("10.1.0.2"), 24},
        {"eth0", IpAddress::parse("fe80::1"), 64},
        {"eth1", IpAddress::parse("2001:db8::5"), 64},
        {"mesh0", IpAddress::parse("100.64.0.2"), 10},
        {"wg9", IpAddress::parse("100.64.0.9"), 32},  // inside the overlay on another interface
    };
    auto endpoints = select_endpoints(addresses, "mesh0", network, 51820);
    CHECK(endpoints == std::vector<Endpoint>{Endpoint::parse("10.1.0.2:51820"),
                                             Endpoint::parse("[2001:db8::5]:51820")});
    auto prefixes = select_prefixes(addresses, "mesh0", network);
    CHECK(prefixes ==
          std::vector<IpPrefix>{IpPrefix::parse("10.1.0.0/24"), IpPrefix::parse("2001:db8::/64")});
}

TEST_CASE("an idle pair is checked every 25 s, an active one every 500 ms", "[paths]") {
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    net.run_until([] { return false; }, milliseconds(31000));  // past the active window
    auto before = net.delivered;
    net.run_until([] { return false; }, milliseconds(10000));
    auto idle = net.delivered - before;  // each side: a check and its answer, at most once
    CHECK(idle <= 4);
    before = net.delivered;
    for (int i = 0; i < 40; ++i) {  // the tunnel carries traffic: the agent reports its counters
        net.hosts.at("a").engine->traffic("b", 1000 + i, net.now);
        net.hosts.at("b").engine->traffic("a", 1000 + i, net.now);
        net.run_until([] { return false; }, milliseconds(250));
    }
    auto active = net.delivered - before;  // 10 s at two checks a second, each side
    CHECK(active >= 60);
    CHECK(net.direct("a", "b", PathKind::nat_direct));
}

TEST_CASE("security 4: a peer whose candidates churn starts few probe bursts", "[paths]") {
    // The review's attack: one peer alternating two lists of 16 candidates, 200 times a second
    // for 10 s (the coordinator lets through one change a second; this is the agent's own
    // bound). Unbounded, that was 3,200 probes a second.
    PathFinder finder(PathConfig{}, counter_transaction);
    auto list = [](int base) {
        std::vector<Endpoint> out;
        for (int i = 0; i < 16; ++i) {
            out.push_back(Endpoint::parse("198.51.100." + std::to_string(base + i) + ":51820"));
        }
        return out;
    };
    std::size_t probes = 0;
    for (int tick = 0; tick < 2000; ++tick) {  // every 5 ms for 10 s
        auto now = TimePoint{} + milliseconds(5 * tick);
        finder.set_peers({{"x", list(tick % 2 ? 1 : 100)}}, now);
        probes += finder.due(now).size();
    }
    INFO("probes in 10 s: " << probes);
    // The first burst, then a few from the budget, then one per 3 s: each at most 9 rounds of
    // 16 candidates (144 probes), and the checks in between.
    CHECK(probes <= 8 * 144);
    CHECK(probes >= 144);  // probing still happens
}

TEST_CASE("a direct path that dies is reported lost within about a second", "[paths]") {
    Net net = two_sites(false, false);
    // Traffic in the tunnel: checked at the active rate.
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    for (auto& [id, h] : net.hosts) {
        for (const auto& [other, unused] : net.hosts) {
            if (other != id) h.engine->traffic(other, 1000, net.now);
        }
    }
    net.run_until([] { return false; }, milliseconds(600));
    CHECK_FALSE(net.path("a", "b").lost);
    // s1 turns endpoint-dependent and forgets its mappings: no direct path is left.
    net.nats.at("s1").random = true;
    net.nats.at("s1").mappings.clear();
    net.nats.at("s2").random = true;
    net.nats.at("s2").mappings.clear();
    auto took = net.run_until([&] { return net.path("a", "b").lost && net.path("b", "a").lost; });
    REQUIRE(took);
    CHECK(*took <= milliseconds(1300));
    // Still lost while probing finds nothing, and at give-up the path is none.
    net.run_until([] { return false; }, milliseconds(4000));
    CHECK(net.path("a", "b").lost);
    CHECK(net.path("a", "b").kind == PathKind::none);
    // Both NATs turn endpoint-independent again: the first answer clears it.
    net.nats.at("s1").random = false;
    net.nats.at("s2").random = false;
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); },
                          milliseconds(3000)));
    CHECK_FALSE(net.path("a", "b").lost);
    CHECK_FALSE(net.path("b", "a").lost);
}

TEST_CASE("a network change on a working path is not reported lost", "[paths]") {
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    // a gains an address: every peer is probed again, and answers at once.
    auto& a = net.hosts.at("a");
    LocalNetwork l;
    l.host_endpoints = {a.local, Endpoint::parse("10.1.0.9:51820")};
    l.prefixes = {kb::IpPrefix::parse("10.1.0.0/24")};
    REQUIRE(a.engine->set_local(l, net.now));
    bool ever_lost = false;
    net.run_until(
        [&] {
            ever_lost |= net.path("a", "b").lost || net.path("b", "a").lost;
            return false;
        },
        milliseconds(3000));
    CHECK_FALSE(ever_lost);
    CHECK(net.direct("a", "b", PathKind::nat_direct));
}

TEST_CASE("meshctl ping's probes: lan and nat-direct answers, no path change", "[paths]") {
    Net net = two_sites(false, false);
    net.add("b2", "s1", "10.1.0.3:51820");
    net.publish();
    REQUIRE(net.run_until([&] {
        return net.direct("a", "b", PathKind::nat_direct) && net.direct("a", "b2", PathKind::lan);
    }));
    auto& a = *net.hosts.at("a").engine;
    const auto before = a.selections();
    auto lan = a.ping("b2", {Endpoint::parse("10.1.0.3:51820")}, net.now);
    auto nat = a.ping("b", {Endpoint::parse("203.0.113.2:51820")}, net.now);
    REQUIRE(lan.size() == 1);
    REQUIRE(nat.size() == 1);
    CHECK_FALSE(a.take_ping(lan));
    REQUIRE(net.run_until([&] { return a.take_ping(lan) && a.take_ping(nat); }, milliseconds(100)));
    CHECK(a.take_ping(lan)->kind == PathKind::lan);
    CHECK(a.take_ping(lan)->peer == "b2");
    CHECK(a.take_ping(lan)->from == Endpoint::parse("10.1.0.3:51820"));
    CHECK(a.take_ping(nat)->kind == PathKind::nat_direct);
    CHECK(a.take_ping(nat)->from == Endpoint::parse("203.0.113.2:51820"));
    CHECK(a.selections().at("b").endpoint == before.at("b").endpoint);
    a.forget_pings(lan);
    CHECK_FALSE(a.take_ping(lan));
    // An unknown peer gets no probe; an endpoint nobody answers on gets no answer.
    CHECK(a.ping("nobody", {Endpoint::parse("10.1.0.9:51820")}, net.now).empty());
    auto dead = a.ping("b", {Endpoint::parse("203.0.113.9:1")}, net.now);
    net.run_until([] { return false; }, milliseconds(100));
    CHECK_FALSE(a.take_ping(dead));
}

TEST_CASE("the engine counts STUN and probes both ways, and not refused ones", "[paths]") {
    Net net = two_sites(false, false);
    REQUIRE(net.run_until([&] { return net.direct("a", "b", PathKind::nat_direct); }));
    const PathCounters a = net.hosts.at("a").engine->counters();
    const PathCounters b = net.hosts.at("b").engine->counters();
    CHECK(a.stun_requests >= 2);  // both of the server's ports
    CHECK(a.stun_answers >= 2);
    CHECK(a.stun_answers <= a.stun_requests);
    CHECK(a.probes_sent >= 1);
    CHECK(a.probe_answers >= 1);
    CHECK(a.probe_answers <= a.probes_sent);
    // Every answer a got was an answer b gave, and the other way round.
    CHECK(a.probe_answers <= b.probes_answered);
    CHECK(b.probe_answers <= a.probes_answered);
    // A probe with the wrong key is not answered, and not counted as answered.
    auto before = net.hosts.at("a").engine->counters().probes_answered;
    net.hosts.at("a").engine->on_datagram(forged_probe(net, "b"), net.now);
    CHECK(net.hosts.at("a").engine->counters().probes_answered == before);
    PathCounters sum = a;
    sum += b;
    CHECK(sum.probes_sent == a.probes_sent + b.probes_sent);
    CHECK(sum.stun_answers == a.stun_answers + b.stun_answers);
}
