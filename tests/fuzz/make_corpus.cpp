// Writes the seed corpora of the fuzzers that take protobuf bytes or tokens: a few small,
// well-formed inputs (and a few near misses) that reach deep into each harness, from which the
// fuzzer mutates. Run by hand when a message changes, then commit the files:
//   cmake --build build-fuzz --target make_fuzz_corpus && build-fuzz/bin/make_fuzz_corpus
//   tests/fuzz/corpus
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "agent/convert.hpp"
#include "agent/state.hpp"
#include "mesh/v1/agent_state.pb.h"
#include "mesh/v1/coordinator.pb.h"
#include "tests/fuzz/service_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace mesh;

const std::string kToken =
    "mesh1_0123456789abcdef_00112233445566778899aabbccddeeff0011223344556677";
const std::string kSelf = "n-0000000000000001";  // sync_response_fuzz's own node id

fs::path root;

void write(const std::string& corpus, const std::string& name, const std::string& bytes) {
    fs::create_directories(root / corpus);
    std::ofstream(root / corpus / name, std::ios::binary) << bytes;
}

std::string key(std::uint8_t fill) {
    return std::string(32, static_cast<char>(fill));
}

v1::Peer peer(const std::string& id, std::uint8_t k, int host) {
    v1::Peer p;
    p.set_node_id(id);
    p.set_hostname("host-" + std::to_string(host));
    p.set_wireguard_public_key(key(k));
    p.add_allowed_ips("100.64.0." + std::to_string(host) + "/32");
    p.add_allowed_ips("fd7a:115c:a1e0::" + std::to_string(host) + "/128");
    p.add_endpoints("192.0.2." + std::to_string(host) + ":51820");
    p.add_endpoints("[2001:db8::" + std::to_string(host) + "]:51820");
    return p;
}

v1::SyncResponse full_map(std::uint64_t version) {
    v1::SyncResponse r;
    auto* full = r.mutable_full();
    full->set_version(version);
    *full->mutable_self() = peer(kSelf, 1, 1);
    *full->add_peers() = peer("n-0000000000000002", 2, 2);
    *full->add_peers() = peer("n-0000000000000003", 3, 3);
    auto* n = full->mutable_network();
    n->set_ipv4_prefix("100.64.0.0/10");
    n->set_ipv6_prefix("fd7a:115c:a1e0::/48");
    n->set_mtu(1420);
    n->set_persistent_keepalive_seconds(25);
    return r;
}

v1::SyncResponse delta(std::uint64_t from, std::uint64_t to) {
    v1::SyncResponse r;
    r.mutable_delta()->set_from_version(from);
    r.mutable_delta()->set_version(to);
    return r;
}

v1::SyncResponse ready(std::vector<std::string> initiate, std::vector<std::string> respond) {
    v1::SyncResponse r;
    for (const auto& id : initiate) r.mutable_ready()->add_initiate(id);
    for (const auto& id : respond) r.mutable_ready()->add_respond(id);
    return r;
}

// sync_response_fuzz's framing: a 2-byte little-endian length, then the message.
std::string frames(const std::vector<v1::SyncResponse>& messages) {
    std::string out;
    for (const auto& m : messages) {
        std::string bytes = m.SerializeAsString();
        out.push_back(static_cast<char>(bytes.size() & 0xff));
        out.push_back(static_cast<char>(bytes.size() >> 8));
        out += bytes;
    }
    return out;
}

void sync_response() {
    write("sync_response", "full", frames({full_map(5)}));

    auto add = delta(5, 6);
    *add.mutable_delta()->add_upserted() = peer("n-0000000000000004", 4, 4);
    add.mutable_delta()->add_removed("n-0000000000000002");
    auto rekey = delta(6, 7);
    *rekey.mutable_delta()->add_upserted() = peer("n-0000000000000003", 9, 3);
    *rekey.mutable_delta()->mutable_self() = peer(kSelf, 8, 1);
    write("sync_response", "full-delta-ready",
          frames({full_map(5), ready({"n-0000000000000002"}, {"n-0000000000000003"}), add,
                  ready({"n-0000000000000004"}, {}), rekey, delta(7, 7)}));

    write("sync_response", "gap-resync", frames({full_map(5), delta(9, 10), full_map(11)}));

    auto removed = delta(5, 6);
    removed.mutable_delta()->add_removed(kSelf);
    write("sync_response", "self-removed", frames({full_map(5), removed}));

    // A coordinator that tries to route foreign traffic into the tunnel, claims our addresses,
    // and repeats our key for a peer.
    auto hostile = full_map(3);
    auto* p = hostile.mutable_full()->add_peers();
    *p = peer("n-00000000000000ff", 5, 5);
    p->add_allowed_ips("0.0.0.0/0");
    p->add_allowed_ips("100.64.0.1/32");
    p->add_allowed_ips("10.0.0.0/8");
    *hostile.mutable_full()->add_peers() = peer("n-00000000000000fe", 1, 6);
    write("sync_response", "hostile-peers", frames({hostile, ready({"n-00000000000000ff"}, {})}));
}

// Signed by join_request_fuzz's machine key (service_fixture.hpp's web).
v1::JoinRequest join(const std::string& token, const std::string& hostname) {
    static const fuzz_fixture::MachineKey machine(fuzz_fixture::kWeb);
    v1::JoinRequest r;
    r.set_token(token);
    r.set_wireguard_public_key(key(2));
    r.set_machine_public_key(machine.public_bytes());
    r.set_hostname(hostname);
    r.add_endpoints("192.0.2.7:51820");
    r.add_endpoints("[2001:db8::7]:51820");
    r.set_machine_signature(machine.sign_join(token, r.wireguard_public_key()));
    return r;
}

void join_request() {
    write("join_request", "valid", join(kToken, "Web").SerializeAsString());
    write("join_request", "long-hostname", join(kToken, std::string(63, 'a')).SerializeAsString());
    auto other = join("mesh1_fedcba9876543210_" + std::string(48, 'f'), "db-1");
    write("join_request", "unknown-token", other.SerializeAsString());
    auto zero = join(kToken, "zero");
    zero.set_wireguard_public_key(key(0));
    write("join_request", "zero-key", zero.SerializeAsString());
    auto unsigned_join = join(kToken, "web");
    unsigned_join.clear_machine_signature();
    write("join_request", "unsigned", unsigned_join.SerializeAsString());
    auto rekeyed = join(kToken, "web");
    rekeyed.set_wireguard_public_key(key(4));  // the signature is over key(2)
    write("join_request", "signature-of-another-key", rekeyed.SerializeAsString());
}

// service_requests_fuzz: the first byte picks Join or Sync (and the stream), then frames
// (service_fixture.hpp).
namespace sr {

using namespace fuzz_fixture;

const MachineKey& machine(int m) {
    static const std::vector<MachineKey> keys = [] {
        std::vector<MachineKey> k;
        for (int i = 0; i < kMachines; ++i) k.emplace_back(i);
        return k;
    }();
    return keys[m];
}

v1::JoinRequest join(int m, const std::string& token, const std::string& hostname,
                     const std::string& wg_key) {
    v1::JoinRequest r;
    r.set_token(token);
    r.set_wireguard_public_key(wg_key);
    r.set_machine_public_key(machine(m).public_bytes());
    r.set_hostname(hostname);
    r.add_endpoints("192.0.2." + std::to_string(100 + m) + ":51820");
    r.add_endpoints("[2001:db8::" + std::to_string(100 + m) + "]:51820");
    r.set_machine_signature(machine(m).sign_join(token, wg_key));
    return r;
}

std::string input(std::uint8_t mode, const std::vector<std::string>& messages) {
    std::string out(1, static_cast<char>(mode));
    for (const auto& m : messages) out += frame(m);
    return out;
}

template <class... Message>
std::vector<std::string> bytes(const Message&... messages) {
    return {messages.SerializeAsString()...};
}

v1::SyncRequest ack(std::uint64_t version) {
    v1::SyncRequest r;
    r.mutable_ack()->set_version(version);
    return r;
}

v1::SyncRequest endpoints(std::vector<std::string> list) {
    v1::SyncRequest r;
    for (const auto& e : list) r.mutable_endpoints()->add_endpoints(e);
    return r;
}

v1::SyncRequest paths(const std::string& peer, v1::PathKind kind, const std::string& endpoint) {
    v1::SyncRequest r;
    auto* p = r.mutable_paths();
    p->set_nat(v1::NAT_ENDPOINT_INDEPENDENT);
    p->set_reflexive("198.51.100.7:41641");
    auto* peer_path = p->add_peers();
    peer_path->set_node_id(peer);
    peer_path->set_path(kind);
    peer_path->set_endpoint(endpoint);
    peer_path->set_rtt_us(1500);
    return r;
}

v1::SyncRequest rotate(const std::string& wg_key) {
    v1::SyncRequest r;
    r.mutable_rotate_key()->set_wireguard_public_key(wg_key);
    return r;
}

void write_all() {
    const std::uint8_t join_mode = 0, signed_join = kSignJoin;
    const std::uint8_t web = kSync, old = kSync | 1 << 1, gone = kSync | 2 << 1,
                       replaced = kSync | 3 << 1;
    const std::string corpus = "service_requests";

    // web joins again: same machine, same key; asks for tags it will not get.
    auto again = join(kWeb, kTokenValid, "web", wireguard_key(kWeb));
    again.add_requested_tags("admin");
    write(corpus, "join-again", input(join_mode, bytes(again)));
    // A new machine whose hostname is taken, then the same machine again with a new key and name.
    write(corpus, "join-new-then-rekey",
          input(join_mode, bytes(join(kNew1, kTokenValid, "WEB", wireguard_key(kNew1)),
                                 join(kNew1, kTokenValid, "new-name", key(0x77)))));
    // Four new machines into the three free addresses: the last is refused.
    write(corpus, "join-fill-overlay",
          input(join_mode, bytes(join(kNew1, kTokenValid, "a", wireguard_key(kNew1)),
                                 join(kNew2, kTokenValid, "b", wireguard_key(kNew2)),
                                 join(kGone, kTokenValid, "gone", wireguard_key(kGone)),
                                 join(kNew3, kTokenValid, "c", wireguard_key(kNew3)))));
    // Tokens that grant nothing, a single-use one used twice, an unknown one.
    write(corpus, "join-tokens",
          input(join_mode, bytes(join(kNew1, kTokenRevoked, "r", wireguard_key(kNew1)),
                                 join(kNew1, kTokenExpired, "e", wireguard_key(kNew1)),
                                 join(kNew2, kTokenSingle, "s", wireguard_key(kNew2)),
                                 join(kNew3, kTokenSingle, "s", wireguard_key(kNew3)),
                                 join(kNew4, token_text('9', 'd'), "u", wireguard_key(kNew4)))));
    // The expired node joins again with a token; a new machine brings db's WireGuard key.
    write(corpus, "join-expired-and-stolen-key",
          input(join_mode, bytes(join(kOld, kTokenValid, "old", wireguard_key(kOld)),
                                 join(kNew1, kTokenValid, "thief", wireguard_key(kDb)))));
    // Without a signature, with another machine's, with one over another key.
    auto unsigned_join = join(kWeb, kTokenValid, "web", wireguard_key(kWeb));
    unsigned_join.clear_machine_signature();
    auto foreign = join(kWeb, kTokenValid, "web", wireguard_key(kWeb));
    foreign.set_machine_signature(machine(kDb).sign_join(kTokenValid, wireguard_key(kWeb)));
    auto other_key = join(kWeb, kTokenValid, "web", wireguard_key(kWeb));
    other_key.set_wireguard_public_key(key(0x78));
    write(corpus, "join-bad-signatures",
          input(join_mode, bytes(unsigned_join, foreign, other_key)));
    // The harness signs: the fuzzer may change token and keys freely.
    auto sign_me = join(kNew2, kTokenValid, "signed", key(0x79));
    sign_me.clear_machine_signature();
    write(corpus, "join-harness-signs", input(signed_join, bytes(sign_me)));

    // web's stream: everything an agent sends, then a key that is db's (refused: the end).
    write(corpus, "sync-web",
          input(web, bytes(ack(3), endpoints({"192.0.2.1:51820", "198.51.100.7:41641"}),
                           paths("n-0000000000000002", v1::PATH_NAT_DIRECT, "198.51.100.9:51820"),
                           rotate(key(0x7a)), ack(1000), rotate(wireguard_key(kDb)), ack(5))));
    write(corpus, "sync-web-bad", input(web, bytes(endpoints({"192.0.2.1:51820", "192.0.2.1"}))));
    write(corpus, "sync-web-rotate-same", input(web, bytes(rotate(wireguard_key(kWeb)))));
    write(corpus, "sync-web-rotate-zero", input(web, bytes(rotate(key(0)))));
    v1::SyncRequest hello;
    hello.mutable_hello()->set_node_id("n-0000000000000001");
    hello.mutable_hello()->set_signature(std::string(64, '\1'));
    write(corpus, "sync-second-hello", input(web, bytes(hello)));
    auto twice = paths("n-0000000000000002", v1::PATH_LAN, "");
    *twice.mutable_paths()->add_peers() = twice.paths().peers(0);
    write(corpus, "sync-paths-twice", input(web, bytes(twice)));
    // The expired node's stream, the removed node's, and web's replaced one.
    write(corpus, "sync-old",
          input(old, bytes(ack(2), endpoints({"192.0.2.3:51820"}), rotate(key(0x7b)))));
    write(corpus, "sync-gone",
          input(gone, bytes(ack(2), paths("n-0000000000000002", v1::PATH_NONE, ""),
                            endpoints({"192.0.2.4:51820"}))));
    write(corpus, "sync-replaced",
          input(replaced, bytes(paths("n-0000000000000002", v1::PATH_LAN, "192.0.2.2:51820"),
                                rotate(key(0x7c)))));
}

}  // namespace sr

// credentials_fuzz: text. The PEM certificate and its fingerprints were made with openssl
// (docs/FUZZING.md), not here.
void credentials() {
    write("credentials", "operator",
          "mesh-op1_fedcba9876543210_0123456789abcdef0123456789abcdef0123456789abcdef");
    write("credentials", "operator-other", "mesh-op1_0123456789abcdef_" + std::string(48, 'e'));
    write("credentials", "join-token", kToken);
    write("credentials", "tags", "Web,db,prod-1,web");
    write("credentials", "tags-bad", "web,-db,a_b");
}

void agent_state() {
    agent::AgentState s;
    s.coordinators = {{"192.0.2.10:7443", "sha256:" + std::string(64, 'a')}};
    s.node_id = kSelf;
    s.hostname = "web";
    s.addresses = {kb::IpPrefix::parse("100.64.0.1/10", true),
                   kb::IpPrefix::parse("fd7a:115c:a1e0::1/48", true)};
    s.network.ipv6_prefix = kb::IpPrefix::parse("fd7a:115c:a1e0::/48");
    write("agent_state", "joined-never-synced", agent::serialize_state(s));

    agent::apply_update(s.netmap, agent::from_proto(full_map(5).full()), kSelf);
    agent::mark_ready(s.netmap, {"n-0000000000000002"}, {"n-0000000000000003"});
    write("agent_state", "joined-with-map", agent::serialize_state(s));

    s.removed = true;
    write("agent_state", "removed", agent::serialize_state(s));

    s.removed = false;
    s.coordinators = {{"192.0.2.10:7443", "sha256:" + std::string(64, 'a')},
                      {"192.0.2.11:7443", "sha256:" + std::string(64, 'b')},
                      {"coord-3.example:7443", "sha256:" + std::string(64, 'a')}};
    write("agent_state", "joined-replicas", agent::serialize_state(s));
    // As an agent from before replica lists wrote it: the single coordinator fields only.
    v1::AgentState single;
    single.ParseFromString(agent::serialize_state(s));
    single.clear_coordinators();
    write("agent_state", "joined-single-fields", single.SerializeAsString());
}

void token() {
    write("token", "valid", kToken);
    write("token", "other-id", "mesh1_fedcba9876543210_" + std::string(48, '0'));
    write("token", "uppercase", "mesh1_0123456789ABCDEF_" + std::string(48, 'A'));
    write("token", "short", "mesh1_0123_4567");
}

void ip_key() {
    write("ip_key", "ipv4", "192.0.2.1");
    write("ip_key", "ipv6", "fd7a:115c:a1e0::1");
    write("ip_key", "mapped", "::ffff:192.0.2.1");
    write("ip_key", "prefix4", "100.64.0.1/10");
    write("ip_key", "prefix6", "fd7a:115c:a1e0::/48");
    write("ip_key", "endpoint4", "192.0.2.1:51820");
    write("ip_key", "endpoint6", "[2001:db8::1]:51820");
    write("ip_key", "key-base64", kb::Key{}.to_base64());
    kb::Key k;
    for (unsigned i = 0; i < 32; ++i) k.bytes[i] = static_cast<std::uint8_t>(i * 37 + 11);
    write("ip_key", "key-base64-2", k.to_base64());
    write("ip_key", "key-hex", k.to_hex());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_fuzz_corpus CORPUS_ROOT (tests/fuzz/corpus)\n";
        return 2;
    }
    root = argv[1];
    sync_response();
    join_request();
    sr::write_all();
    credentials();
    agent_state();
    token();
    ip_key();
    return 0;
}
