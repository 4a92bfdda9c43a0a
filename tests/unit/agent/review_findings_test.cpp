// The agent's side of the security and operator reviews (docs/SECURITY.md): keys never shared
// between coordinators (security 3), a half key pair after a crash (security 15), and devices
// it must not adopt (another owner's interface).
#include <sodium.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "agent/device_ownership.hpp"
#include "agent/keys.hpp"
#include "agent/state.hpp"
#include "agent/token_file.hpp"
#include "kmod-bridge/error.hpp"

using namespace mesh::agent;

namespace {

const std::string kPinA = "sha256:" + std::string(64, 'a');
const std::string kPinB = "sha256:" + std::string(64, 'b');

std::string temp_dir() {
    char tmpl[] = "/tmp/mesh-review-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    return tmpl;
}

mesh::kb::Key key_of(std::uint8_t n) {
    mesh::kb::Key k;
    k.bytes.fill(n);
    return k;
}

}  // namespace

TEST_CASE("security 3: keys are reused only for the coordinator the host is pinned to") {
    const CoordinatorList a = {{"192.0.2.10:7443", kPinA}};
    const CoordinatorList b = {{"192.0.2.10:7443", kPinB}};
    std::optional<AgentState> none;
    CHECK_FALSE(keys_reusable_for(none, a));  // never joined: fresh keys
    AgentState joined;
    joined.coordinators = a;
    CHECK(keys_reusable_for(joined, a));
    CHECK_FALSE(keys_reusable_for(joined, b));  // another coordinator: fresh keys
    joined.removed = true;                      // removed, joining the same one again
    CHECK(keys_reusable_for(joined, a));
    AgentState unpinned;  // from before pins were stored
    unpinned.coordinators = {{"192.0.2.10:7443", ""}};
    CHECK_FALSE(keys_reusable_for(unpinned, {{"192.0.2.10:7443", ""}}));
}

TEST_CASE("security 3: replicas of one mesh share keys when a certificate is in common") {
    AgentState joined;
    joined.coordinators = {{"192.0.2.10:7443", kPinA}, {"192.0.2.11:7443", kPinB}};
    // A replica replaced (kPinB's gone, a new one added): still the mesh of kPinA.
    const std::string kPinC = "sha256:" + std::string(64, 'c');
    CHECK(keys_reusable_for(joined, {{"192.0.2.10:7443", kPinA}, {"192.0.2.12:7443", kPinC}}));
    // Another address, same certificate: the same coordinator moved.
    CHECK(keys_reusable_for(joined, {{"198.51.100.1:7443", kPinB}}));
    // No certificate in common: another mesh, whatever the addresses.
    CHECK_FALSE(keys_reusable_for(joined, {{"192.0.2.10:7443", kPinC}}));
}

TEST_CASE("security 15: half a key pair that was never published does not block a start") {
    REQUIRE(sodium_init() >= 0);
    auto dir = temp_dir();
    Keys::generate().save(dir);
    std::filesystem::remove(dir + "/wireguard.key");    // the crash between the two writes
    CHECK_FALSE(Keys::load(dir, /*published=*/false));  // no state: a fresh pair at the join
    CHECK_THROWS_AS(Keys::load(dir, /*published=*/true), mesh::Error);  // a joined host: say so
    auto fresh = Keys::generate();
    fresh.save(dir);
    auto loaded = Keys::load(dir, false);
    REQUIRE(loaded);
    CHECK(loaded->machine_public == fresh.machine_public);
    std::filesystem::remove_all(dir);
}

TEST_CASE("security 15: a rotation rewrites the WireGuard key only") {
    REQUIRE(sodium_init() >= 0);
    auto dir = temp_dir();
    auto keys = Keys::generate();
    keys.save(dir);
    struct stat machine_before {};
    REQUIRE(::stat((dir + "/machine.key").c_str(), &machine_before) == 0);
    keys.wireguard_private = Keys::generate().wireguard_private;
    keys.save(dir);
    struct stat machine_after {};
    REQUIRE(::stat((dir + "/machine.key").c_str(), &machine_after) == 0);
    CHECK(machine_after.st_ino == machine_before.st_ino);
    CHECK(Keys::load(dir)->wireguard_private == keys.wireguard_private);
    std::filesystem::remove_all(dir);
}

TEST_CASE("operator review: a device is adopted only when it is ours or empty") {
    DeviceOwner me{owner_alias(key_of(1)), key_of(11)};
    mesh::kb::DeviceState empty;
    CHECK(claim_device("", empty, me) == DeviceClaim::unclaimed);
    CHECK(claim_device(me.alias, empty, me) == DeviceClaim::ours);

    mesh::kb::DeviceState keyed;
    keyed.private_key = key_of(11);
    keyed.peers.resize(3);
    CHECK(claim_device("", keyed, me) == DeviceClaim::ours);  // our key (an older agent's device)
    // Mid-rotation crash: the device has the old key, the agent the new one; the alias holds.
    DeviceOwner rotated{me.alias, key_of(12)};
    CHECK(claim_device(me.alias, keyed, rotated) == DeviceClaim::ours);

    mesh::kb::DeviceState theirs;  // another agent's wireguard-go, or wg-quick's wg0
    theirs.private_key = key_of(99);
    theirs.peers.resize(2);
    CHECK(claim_device("", theirs, me) == DeviceClaim::foreign);
    CHECK(claim_device(owner_alias(key_of(2)), theirs, me) == DeviceClaim::foreign);
    mesh::kb::DeviceState peers_only;  // no key yet, but peers someone configured
    peers_only.peers.resize(1);
    CHECK(claim_device("", peers_only, me) == DeviceClaim::foreign);
    CHECK(claim_device("wg-quick", empty, me) == DeviceClaim::foreign);  // someone's label
    CHECK(owner_alias(key_of(1)).size() < 256);
}

TEST_CASE("security 13: a token file holds exactly one token, stdin gives one line") {
    CHECK(token_from_text("mesh1_abc_def\n", "f") == "mesh1_abc_def");
    CHECK(token_from_text("  mesh1_abc_def \r\n", "f") == "mesh1_abc_def");
    CHECK_THROWS_WITH(token_from_text("\n\n", "the token file t"),
                      Catch::Contains("t holds no join token"));
    CHECK_THROWS_WITH(token_from_text("one two", "f"), Catch::Contains("more than one word"));
    std::istringstream pasted("mesh1_abc_def\nsecond line ignored\n");
    CHECK(read_token_line(pasted, "stdin") == "mesh1_abc_def");
    std::istringstream huge(std::string(5000, 'a'));
    CHECK_THROWS_WITH(read_token_stream(huge, "f"), Catch::Contains("larger than a join token"));
    std::istringstream long_line(std::string(5000, 'a'));
    CHECK_THROWS_WITH(read_token_line(long_line, "stdin"), Catch::Contains("longer"));
    CHECK_THROWS_WITH(read_token_file("/nonexistent/token"), Catch::Contains("/nonexistent/token"));
}
