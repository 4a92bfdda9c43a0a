#include <sodium.h>
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/backoff.hpp"
#include "agent/host_endpoints.hpp"
#include "agent/keys.hpp"
#include "kmod-bridge/error.hpp"

using namespace mesh::agent;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/mesh-keys-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    return tmpl;
}

}  // namespace

TEST_CASE("the WireGuard public key matches RFC 7748's X25519 test vector") {
    REQUIRE(sodium_init() >= 0);
    // RFC 7748 section 6.1: Alice's private and public keys.
    auto priv = Key::from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    auto expected =
        Key::from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    CHECK(wireguard_public_key(priv) == expected);
}

TEST_CASE("keys are saved 0600 and load back identical") {
    auto dir = temp_dir();
    auto keys = Keys::generate();
    keys.save(dir);
    struct stat st {};
    REQUIRE(stat((dir + "/wireguard.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(stat(dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    auto loaded = Keys::load(dir);
    REQUIRE(loaded);
    CHECK(loaded->wireguard_private == keys.wireguard_private);
    CHECK(loaded->wireguard_public == keys.wireguard_public);
    CHECK(loaded->machine_public == keys.machine_public);
    // The machine key still signs verifiably.
    auto sig = loaded->sign("hello");
    CHECK(crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                      reinterpret_cast<const unsigned char*>("hello"), 5,
                                      keys.machine_public.bytes.data()) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("key loading refuses unsafe or partial state") {
    auto dir = temp_dir();
    CHECK_FALSE(Keys::load(dir));
    Keys::generate().save(dir);
    chmod((dir + "/wireguard.key").c_str(), 0644);
    CHECK_THROWS_AS(Keys::load(dir), mesh::Error);
    std::filesystem::remove(dir + "/wireguard.key");
    CHECK_THROWS_AS(Keys::load(dir), mesh::Error);
    std::ofstream(dir + "/wireguard.key") << "garbage\n";
    chmod((dir + "/wireguard.key").c_str(), 0600);
    CHECK_THROWS_AS(Keys::load(dir), mesh::Error);
    std::filesystem::remove_all(dir);
}

TEST_CASE("backoff grows with jitter and resets") {
    double r = 0.0;
    Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), [&] { return r; });
    CHECK(b.next().count() == 50);  // [d/2, d] with r = 0
    CHECK(b.next().count() == 100);
    r = 0.999999;
    CHECK(b.next().count() == 399);
    CHECK(b.next().count() == 799);
    CHECK(b.next().count() == 999);  // capped
    CHECK(b.attempts() == 5);
    b.reset();
    r = 0;
    CHECK(b.next().count() == 50);
}

TEST_CASE("endpoint candidates skip loopback, link-local, the mesh and the overlay") {
    NetworkSettings network;
    std::vector<InterfaceAddress> addrs{
        {"lo", IpAddress::parse("127.0.0.1")},     {"eth0", IpAddress::parse("fe80::1")},
        {"eth0", IpAddress::parse("2001:db8::5")}, {"eth0", IpAddress::parse("192.0.2.5")},
        {"mesh0", IpAddress::parse("100.64.0.3")}, {"eth1", IpAddress::parse("100.64.0.77")},
        {"eth1", IpAddress::parse("169.254.1.1")},
    };
    auto eps = select_endpoints(addrs, "mesh0", network, 51820);
    REQUIRE(eps.size() == 2);
    CHECK(eps[0].to_string() == "192.0.2.5:51820");
    CHECK(eps[1].to_string() == "[2001:db8::5]:51820");
}
