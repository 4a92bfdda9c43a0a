// Join and Sync requests through the coordinator's own handlers, without gRPC:
// CoordinatorService::admit (what Join runs) and CoordinatorService::handle_request (what Sync
// runs for each client message after the hello), against a real coordinator in memory: a
// SqliteStore(":memory:"), a Hub, a Registry with a fixed clock. The store holds four join tokens
// (valid and reusable with tags, revoked, expired, single-use ephemeral) and four nodes joined
// with real Ed25519 machine keys (web and db; old, whose key was then expired; gone, then
// removed), in an overlay of six IPv4 addresses (three free), so a sequence of joins can use it
// up. See tests/fuzz/service_fixture.hpp for the input's framing and the fixed keys.
//
// Properties: a refused call throws mesh::coord::StatusError with invalid_argument,
// unauthenticated, permission_denied, not_found or resource_exhausted (anything else would reach
// the client as UNAVAILABLE "storage error" or worse) and leaves the store as it was (version,
// nodes, tokens); a Sync stream ends at its first refusal, as read_requests ends it. An accepted
// join stores exactly the request's keys and endpoints, the token's tags and ephemerality (never
// the requested tags), a valid unique hostname, the addresses it answers, bumps the version and
// the token's uses by one, keeps an existing machine's id and address, and happened only with the
// machine's own signature; an accepted rotate_key stores the requested key at a new version with
// a fresh expiry; an accepted endpoint report stores the list; an ack sets the applied version,
// capped at the store's; a path report is kept only for the node's current stream; a second
// hello is always refused. After every accepted change the whole store stays consistent
// (hostnames, WireGuard keys, machine keys and addresses unique, addresses in the overlay).
//
// After an input that changed anything the coordinator is restored to the fixture's state (see
// World::restore), so every input starts from the same state and a finding reproduces from its
// input alone. The generated protobuf code and SQLite are not instrumented; our code is.
#include <google/protobuf/stubs/logging.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "coordinator/convert.hpp"
#include "coordinator/coordinator_service.hpp"
#include "coordinator/fanout/fanout.hpp"
#include "coordinator/hostname.hpp"
#include "coordinator/ipam.hpp"
#include "coordinator/registry.hpp"
#include "coordinator/sqlite_store.hpp"
#include "coordinator/status_error.hpp"
#include "coordinator/tags.hpp"
#include "coordinator/token.hpp"
#include "mesh/v1/coordinator.pb.h"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/service_fixture.hpp"

using namespace mesh::coord;
using namespace mesh::fuzz_fixture;
namespace v1 = mesh::v1;

namespace {

constexpr std::uint32_t kKeyTtl = 86400;

// MESH_FUZZ_TRACE=1 prints each call's outcome (to see what a seed or a finding reaches).
bool trace = false;

void outcome(const char* call, const char* kind, const StatusError* e) {
    if (!trace) return;
    std::fprintf(stderr, "  %s %s: %s%s%s\n", call, kind, e ? "refused " : "accepted",
                 e ? std::to_string(static_cast<int>(e->code())).c_str() : "",
                 e ? (std::string(" ") + e->what()).c_str() : "");
}

const std::vector<MachineKey>& machines() {
    static const std::vector<MachineKey> keys = [] {
        std::vector<MachineKey> k;
        for (int i = 0; i < kMachines; ++i) k.emplace_back(i);
        return k;
    }();
    return keys;
}

const MachineKey* machine_of(const std::string& public_key) {
    for (const auto& m : machines()) {
        if (m.public_bytes() == public_key) return &m;
    }
    return nullptr;
}

std::string bytes_of(const Key& k) {
    return std::string(reinterpret_cast<const char*>(k.bytes.data()), k.bytes.size());
}

TokenRecord token_record(const std::string& text, std::int64_t expires_at, bool reusable,
                         std::uint32_t max_uses, bool revoked, std::vector<std::string> tags,
                         bool ephemeral) {
    TokenText t = parse_token(text);
    TokenRecord r;
    r.id = t.id;
    r.hash = hash_token_secret(t.secret);
    r.created_at = kNow - 3600;
    r.expires_at = expires_at;
    r.reusable = reusable;
    r.max_uses = max_uses;
    r.revoked = revoked;
    r.tags = std::move(tags);
    r.ephemeral = ephemeral;
    return r;
}

struct TokenState {
    std::string id;
    std::uint32_t uses;
    bool revoked;
    bool operator==(const TokenState&) const = default;
};

// What a refused call must leave as it was, and what World::restore brings back.
struct Snapshot {
    std::uint64_t version;
    std::vector<NodeRecord> nodes;
    std::vector<TokenState> tokens;
    bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(Store& store) {
    Snapshot s{store.version(), store.nodes(), {}};
    for (const auto& t : store.tokens()) s.tokens.push_back({t.id, t.uses, t.revoked});
    return s;
}

// The coordinator of the runs. Not movable: the registry's on_change points at the hub.
struct World {
    NetworkConfig network;
    std::unique_ptr<SqliteStore> store;
    std::unique_ptr<Registry> registry;
    std::unique_ptr<Fanout> hub;
    std::unique_ptr<CoordinatorService> service;
    std::string ids[kMachines];  // of the nodes the fixture joined
    // The Sync streams an input can pick (service_fixture.hpp: byte 0 bits 1-2), and db's.
    std::shared_ptr<Fanout::Session> sessions[4];
    std::shared_ptr<Fanout::Session> db_session;
    // The state every input starts from.
    std::uint64_t pristine_version = 0;
    std::vector<NodeRecord> pristine_nodes;
    std::vector<TokenRecord> pristine_tokens;
    Snapshot pristine;
    // The store's snapshot as of the last check, while nothing was accepted since (a run of
    // refusals reads the store once per call, not twice).
    std::optional<Snapshot> known;

    Snapshot before_call() {
        if (!known) known = snapshot(*store);
        return *known;
    }
    // After a call that may not change the store (a refusal, an ack, a path report).
    void unchanged(const Snapshot& before) {
        Snapshot after = snapshot(*store);
        FUZZ_CHECK(after == before);
        known = std::move(after);
    }

    World() {
        network.ipv4_prefix = IpPrefix::parse("100.64.0.0/29");
        network.ipv6_prefix = IpPrefix::parse("fd7a:115c:a1e0::/48");
        network.stun_port = 3478;
        network.node_key_ttl = kKeyTtl;
        store = std::make_unique<SqliteStore>(":memory:");
        new_hub();

        store->put_token(
            token_record(kTokenValid, kNow + 86400, true, 0, false, {"prod", "web"}, false));
        store->put_token(token_record(kTokenRevoked, kNow + 86400, true, 0, true, {}, false));
        store->put_token(token_record(kTokenExpired, kNow - 1, true, 0, false, {}, false));
        store->put_token(token_record(kTokenSingle, kNow + 86400, false, 1, false, {}, true));

        for (int m : {kWeb, kDb, kOld, kGone}) {
            JoinParams p;
            p.token = kTokenValid;
            p.wireguard_key = key_from_bytes(wireguard_key(m), "wireguard_public_key");
            p.machine_key = key_from_bytes(machines()[m].public_bytes(), "machine_public_key");
            p.machine_signature = machines()[m].sign_join(kTokenValid, wireguard_key(m));
            p.coordinator_fingerprint = mesh::fuzz_fixture::kCoordinatorFingerprint;
            p.hostname = kHostnames[m];
            p.endpoints = {Endpoint::parse("192.0.2." + std::to_string(m + 1) + ":51820")};
            ids[m] = registry->join(p).id;
        }
        registry->expire_node(ids[kOld]);
        registry->remove_node(ids[kGone]);

        pristine_version = store->version();
        pristine_nodes = store->nodes();
        pristine_tokens = store->tokens();
        pristine = snapshot(*store);
        known = pristine;
        new_hub();
    }

    // A fresh registry (its map loaded from the store), hub and service, and the streams: web's
    // (twice, the first replaced by the second), old's and gone's, with web and db having applied
    // the current map. No threads: the handlers run on the fuzzer's.
    void new_hub() {
        service.reset();
        hub.reset();
        registry = std::make_unique<Registry>(
            *store, network, [] { return kNow; }, [](std::uint64_t) {}, encode_peer);
        hub = std::make_unique<Fanout>(*registry,
                                       MapMessages(to_proto(network).SerializeAsString(), 1 << 20),
                                       Fanout::Options{});
        ServiceLimits limits;
        limits.endpoint_interval = std::chrono::milliseconds(0);  // every report due at once
        service = std::make_unique<CoordinatorService>(
            *registry, *hub, mesh::fuzz_fixture::kCoordinatorFingerprint, limits);
        if (ids[kWeb].empty()) return;  // still building the fixture
        db_session = hub->attach(ids[kDb], pristine_version, nullptr);
        sessions[3] = hub->attach(ids[kWeb], pristine_version, nullptr);
        sessions[0] = hub->attach(ids[kWeb], pristine_version, nullptr);
        sessions[1] = hub->attach(ids[kOld], pristine_version, nullptr);
        sessions[2] = hub->attach(ids[kGone], pristine_version, nullptr);
    }

    // Puts back what an input changed, through the Store interface: the nodes it created go
    // (their tombstones stay in the removed table: deltas would carry them, no handler under test
    // reads them), the fixture's nodes, tokens and version are written back, and the registry
    // (whose map is loaded from the store) and the hub are made anew. Far cheaper than a new
    // database (~15 ms with the sanitizers).
    void restore() {
        for (const auto& n : store->nodes()) {
            if (std::none_of(pristine_nodes.begin(), pristine_nodes.end(),
                             [&](const NodeRecord& p) { return p.id == n.id; })) {
                store->remove_node(n.id, pristine_version);
            }
        }
        for (const auto& n : pristine_nodes) {
            if (store->node(n.id) != n) store->put_node(n);
        }
        for (const auto& t : pristine_tokens) store->put_token(t);
        store->set_meta("version", std::to_string(pristine_version));
        new_hub();
        FUZZ_CHECK(snapshot(*store) == pristine);
        known = pristine;
    }
};

bool expected_refusal(Code code) {
    return code == Code::invalid_argument || code == Code::unauthenticated ||
           code == Code::permission_denied || code == Code::not_found ||
           code == Code::resource_exhausted;
}

[[noreturn]] void unexpected(const char* where, const std::exception& e) {
    std::fprintf(stderr, "%s: unexpected exception (not a StatusError): %s\n", where, e.what());
    std::abort();
}

// Whether hostname is base or one of unique_hostname's variants of it (base-2, base-3, ...,
// base cut to leave room for the suffix).
bool is_variant(const std::string& hostname, const std::string& base) {
    if (hostname == base) return true;
    const auto dash = hostname.rfind('-');
    if (dash == std::string::npos || dash + 1 == hostname.size()) return false;
    const std::string digits = hostname.substr(dash + 1);
    if (digits.size() > 9 || digits[0] == '0' ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    if (std::stoi(digits) < 2) return false;
    const std::string suffix = hostname.substr(dash);
    return hostname == base.substr(0, 63 - suffix.size()) + suffix;
}

// No accepted Join or Sync message removes a node. (put_node is INSERT OR REPLACE: a row that
// collided with another on a unique column would silently delete that other node.)
void kept_every_node(const Snapshot& before, const std::vector<NodeRecord>& after) {
    for (const auto& n : before.nodes) {
        FUZZ_CHECK(std::any_of(after.begin(), after.end(),
                               [&](const NodeRecord& a) { return a.id == n.id; }));
    }
}

// Everything the store must keep true whatever was accepted.
void check_store(World& w, const Snapshot& before) {
    const std::uint64_t version = w.store->version();
    const auto nodes = w.store->nodes();
    kept_every_node(before, nodes);
    std::set<std::string> hostnames;
    std::set<Key> wireguard_keys, machine_keys;
    std::set<IpAddress> addresses;
    for (const auto& n : nodes) {
        FUZZ_CHECK(normalize_hostname(n.hostname) == n.hostname);
        FUZZ_CHECK(hostnames.insert(n.hostname).second);
        FUZZ_CHECK(wireguard_keys.insert(n.wireguard_key).second);
        FUZZ_CHECK(machine_keys.insert(n.machine_key).second);
        FUZZ_CHECK(!n.wireguard_key.is_zero());
        FUZZ_CHECK(addresses.insert(n.ipv4).second);
        FUZZ_CHECK(w.network.ipv4_prefix.contains(n.ipv4));
        FUZZ_CHECK(n.ipv4 != w.network.ipv4_prefix.masked().address);
        FUZZ_CHECK(n.ipv6 == mirror_ipv6(w.network.ipv6_prefix, w.network.ipv4_prefix, n.ipv4));
        FUZZ_CHECK(normalize_tags(n.tags) == n.tags);
        FUZZ_CHECK(n.version <= version && n.key_version <= n.version);
        FUZZ_CHECK(n.endpoints.size() <= 64);
    }
}

// One Join call. Returns whether it was accepted.
bool join(World& w, v1::JoinRequest& request, bool sign) {
    const MachineKey* machine = machine_of(request.machine_public_key());
    if (sign && machine) {
        request.set_machine_signature(
            machine->sign_join(request.token(), request.wireguard_public_key()));
    }
    const Snapshot before = w.before_call();
    std::optional<NodeRecord> existing;
    for (const auto& n : before.nodes) {
        if (bytes_of(n.machine_key) == request.machine_public_key()) existing = n;
    }
    std::optional<TokenState> token_before;
    if (looks_like_join_token(request.token())) {
        const std::string token_id = parse_token(request.token()).id;
        for (const auto& t : before.tokens) {
            if (t.id == token_id) token_before = t;
        }
    }

    v1::JoinResponse response;
    NodeRecord admitted;
    try {
        admitted = w.service->admit(request, &response);
    } catch (const StatusError& e) {
        outcome("admit", request.hostname().c_str(), &e);
        FUZZ_CHECK(expected_refusal(e.code()));
        w.unchanged(before);
        return false;
    } catch (const std::exception& e) {
        unexpected("admit", e);
    }
    outcome("admit", request.hostname().c_str(), nullptr);
    w.known.reset();

    // Only the machine key's holder joins: the harness's machines, with their own signature.
    FUZZ_CHECK(machine != nullptr);
    FUZZ_CHECK(request.machine_signature() ==
               machine->sign_join(request.token(), request.wireguard_public_key()));
    FUZZ_CHECK(request.token() == kTokenValid || request.token() == kTokenSingle);
    FUZZ_CHECK(token_before.has_value());

    const std::uint64_t version = w.store->version();
    FUZZ_CHECK(version == before.version + 1);
    auto node = w.store->node(response.node_id());
    FUZZ_CHECK(node.has_value());
    FUZZ_CHECK(*node == admitted);
    FUZZ_CHECK(bytes_of(node->wireguard_key) == request.wireguard_public_key());
    FUZZ_CHECK(bytes_of(node->machine_key) == request.machine_public_key());
    FUZZ_CHECK(node->hostname == response.hostname());
    FUZZ_CHECK(is_variant(node->hostname, normalize_hostname(request.hostname())));
    const auto token_record = w.store->token(token_before->id);
    FUZZ_CHECK(token_record.has_value());
    FUZZ_CHECK(node->tags == token_record->tags);  // requested_tags never count
    FUZZ_CHECK(node->ephemeral == token_record->ephemeral);
    FUZZ_CHECK(!node->expired);
    FUZZ_CHECK(node->version == version);
    FUZZ_CHECK(node->key_expires_at == kNow + kKeyTtl);
    FUZZ_CHECK(std::vector<std::string>(response.tags().begin(), response.tags().end()) ==
               node->tags);
    FUZZ_CHECK(response.ephemeral() == node->ephemeral);
    FUZZ_CHECK(response.addresses_size() == 2);
    FUZZ_CHECK(response.addresses(0) == (IpPrefix{node->ipv4, 29}.to_string()));
    FUZZ_CHECK(response.addresses(1) == (IpPrefix{node->ipv6, 48}.to_string()));
    if (request.endpoints_size() > 0) {
        FUZZ_CHECK(node->endpoints == endpoints_from_proto(request.endpoints(), w.network));
    } else if (existing) {
        FUZZ_CHECK(node->endpoints == existing->endpoints);
    }
    if (existing) {
        FUZZ_CHECK(node->id == existing->id);
        FUZZ_CHECK(node->ipv4 == existing->ipv4 && node->ipv6 == existing->ipv6);
        FUZZ_CHECK(
            node->key_version ==
            (node->wireguard_key == existing->wireguard_key ? existing->key_version : version));
    } else {
        FUZZ_CHECK(node->key_version == version);
        FUZZ_CHECK(w.store->nodes().size() == before.nodes.size() + 1);  // and none went
    }
    FUZZ_CHECK(token_record->uses == token_before->uses + 1);
    check_store(w, before);
    return true;
}

const char* kind_name(const v1::SyncRequest& r) {
    switch (r.kind_case()) {
        case v1::SyncRequest::kHello:
            return "hello";
        case v1::SyncRequest::kAck:
            return "ack";
        case v1::SyncRequest::kEndpoints:
            return "endpoints";
        case v1::SyncRequest::kPaths:
            return "paths";
        case v1::SyncRequest::kRotateKey:
            return "rotate_key";
        case v1::SyncRequest::kRelayCredentials:
            return "relay_credentials";
        case v1::SyncRequest::KIND_NOT_SET:
            break;
    }
    return "empty";
}

// One client message on a Sync stream. Returns whether it was accepted.
bool sync(World& w, const Fanout::Session& session, const v1::SyncRequest& request) {
    const std::string& id = session.node_id;
    const Snapshot before = w.before_call();
    std::optional<NodeRecord> node_before;
    for (const auto& n : before.nodes) {
        if (n.id == id) node_before = n;
    }
    const auto paths_before = w.hub->paths(id);
    const auto applied_before = w.hub->applied(id);
    try {
        w.service->handle_request(session, request);
        w.service->flush_endpoints();  // endpoint reports are written in batches
    } catch (const StatusError& e) {
        outcome("handle_request", kind_name(request), &e);
        FUZZ_CHECK(expected_refusal(e.code()));
        w.unchanged(before);
        FUZZ_CHECK(w.hub->paths(id) == paths_before);
        return false;
    } catch (const std::exception& e) {
        unexpected("handle_request", e);
    }
    outcome("handle_request", kind_name(request), nullptr);
    w.known.reset();

    // What changes the store (endpoints, rotate_key) is read back; the rest may not change it.
    const bool writes = request.has_endpoints() || request.has_rotate_key();
    const std::uint64_t version = writes ? w.store->version() : before.version;
    const auto node = writes ? w.store->node(id) : node_before;
    switch (request.kind_case()) {
        case v1::SyncRequest::kHello:
            FUZZ_CHECK(false && "a second hello was accepted");
            break;
        case v1::SyncRequest::kAck:
            w.unchanged(before);
            // Acks only go up, and never past what the stream was sent.
            FUZZ_CHECK(w.hub->applied(id) ==
                       std::max(applied_before.value_or(0),
                                std::min(request.ack().version(), w.hub->sent_version(session))));
            break;
        case v1::SyncRequest::kEndpoints: {
            FUZZ_CHECK(node_before && node);
            auto endpoints = endpoints_from_proto(request.endpoints().endpoints(), w.network);
            auto relay = relay_from_proto(request.endpoints().relay(), w.network);
            FUZZ_CHECK(node->endpoints == endpoints && node->relay == relay);
            const bool changed = node_before->endpoints != endpoints || node_before->relay != relay;
            FUZZ_CHECK(version == before.version + (changed ? 1 : 0));
            FUZZ_CHECK(node->version == (changed ? version : node_before->version));
            break;
        }
        case v1::SyncRequest::kPaths: {
            w.unchanged(before);
            const bool current = w.hub->current(session);
            // Kept: the report's paths to nodes that are peers (in the map, not itself).
            auto expected = paths_from_proto(request.paths());
            std::erase_if(expected.peers, [&](const PeerPath& p) {
                return p.node_id == id || !w.registry->node(p.node_id);
            });
            FUZZ_CHECK(w.hub->paths(id) == (current ? expected : paths_before));
            break;
        }
        case v1::SyncRequest::kRotateKey:
            FUZZ_CHECK(node_before && node);
            FUZZ_CHECK(!node_before->expired && !node->expired);
            FUZZ_CHECK(bytes_of(node->wireguard_key) ==
                       request.rotate_key().wireguard_public_key());
            FUZZ_CHECK(node->wireguard_key != node_before->wireguard_key);
            FUZZ_CHECK(version == before.version + 1);
            FUZZ_CHECK(node->key_version == version && node->version == version);
            FUZZ_CHECK(node->key_expires_at == kNow + kKeyTtl);
            FUZZ_CHECK(node->machine_key == node_before->machine_key);
            FUZZ_CHECK(node->ipv4 == node_before->ipv4 && node->hostname == node_before->hostname);
            break;
        case v1::SyncRequest::kRelayCredentials:  // an answer on the stream, nothing stored
        case v1::SyncRequest::KIND_NOT_SET:
            w.unchanged(before);
            break;
    }
    if (version != before.version) check_store(w, before);
    return true;
}

std::unique_ptr<World> world;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);  // a refused parse is an expected outcome here
    spdlog::set_level(spdlog::level::off);     // admit and rotate_key log at info
    FUZZ_CHECK(sodium_init() >= 0);
    // SQLite's own small-allocation pool, larger: fewer trips through the sanitizer's allocator
    // for every statement the store prepares (SQLite itself is not instrumented).
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 512, 2048);
    trace = std::getenv("MESH_FUZZ_TRACE") != nullptr;
    world = std::make_unique<World>();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    ++data;
    --size;
    World& w = *world;
    bool changed = false;
    for (int frame = 0; frame < kMaxFrames && size > 0; ++frame) {
        std::size_t length = size;
        if (size >= 2) {
            length = std::min<std::size_t>(size - 2, data[0] | data[1] << 8);
            data += 2;
            size -= 2;
        }
        const std::uint8_t* message = data;
        data += length;
        size -= length;
        if (mode & kSync) {
            v1::SyncRequest request;
            if (!request.ParseFromArray(message, static_cast<int>(length))) continue;
            if (!sync(w, *w.sessions[(mode >> 1) & 3], request)) break;  // the stream ends
            changed |= request.kind_case() != v1::SyncRequest::KIND_NOT_SET;
        } else {
            v1::JoinRequest request;
            if (!request.ParseFromArray(message, static_cast<int>(length))) continue;
            changed |= join(w, request, mode & kSignJoin);  // each Join is a call of its own
        }
    }
    if (changed) {
        // A new database now and then drops the tombstones restore() leaves.
        static int restores = 0;
        if (++restores % 10000 == 0) {
            world.reset();
            world = std::make_unique<World>();
        } else {
            w.restore();
        }
    }
    return 0;
}
