// `meshctl join HOST:PORT[,HOST:PORT...] --fingerprint F[,F...]`: what parses, what is refused
// (with one line saying why), and the formatting that travels to the agent and parses back.
#include <catch2/catch.hpp>

#include <string>

#include "agent/coordinator_list.hpp"
#include "kmod-bridge/error.hpp"

using namespace mesh::agent;

namespace {

const std::string kPinA = "sha256:" + std::string(64, 'a');
const std::string kPinB = "sha256:" + std::string(64, 'b');
const std::string kPinC = "sha256:" + std::string(64, 'c');

// The refusal's message; fails the test when the input parses.
std::string refusal(const std::string& addresses, const std::string& fingerprints) {
    try {
        parse_coordinator_list(addresses, fingerprints);
    } catch (const mesh::Error& e) {
        std::string what = e.what();
        CHECK(what.find('\n') == std::string::npos);  // one line
        return what;
    }
    FAIL("parsed: " << addresses << " / " << fingerprints);
    return "";
}

}  // namespace

TEST_CASE("coordinator list: one address and one fingerprint, as before replicas") {
    auto list = parse_coordinator_list("192.0.2.10:7443", kPinA);
    REQUIRE(list.size() == 1);
    CHECK(list[0] == CoordinatorEntry{"192.0.2.10:7443", kPinA});
    // The fingerprint in openssl's spelling is made canonical, as it always was.
    std::string openssl = "SHA256:", canonical = "sha256:";
    for (int i = 0; i < 32; ++i) {
        openssl += std::string(i ? ":" : "") + "AB";
        canonical += "ab";
    }
    list = parse_coordinator_list("coord.example:7443", openssl);
    CHECK(list[0].fingerprint == canonical);
    CHECK(list[0].address == "coord.example:7443");
}

TEST_CASE("coordinator list: several replicas share one fingerprint or have one each") {
    auto shared = parse_coordinator_list("192.0.2.10:7443,192.0.2.11:7443,192.0.2.12:7443", kPinA);
    REQUIRE(shared.size() == 3);
    for (const auto& e : shared) CHECK(e.fingerprint == kPinA);
    CHECK(shared[1].address == "192.0.2.11:7443");

    auto each = parse_coordinator_list("192.0.2.10:7443, 192.0.2.11:7443 ,192.0.2.12:7443",
                                       kPinA + "," + kPinB + ", " + kPinC);
    REQUIRE(each.size() == 3);
    CHECK(each[0] == CoordinatorEntry{"192.0.2.10:7443", kPinA});
    CHECK(each[1] == CoordinatorEntry{"192.0.2.11:7443", kPinB});  // same order as the addresses
    CHECK(each[2] == CoordinatorEntry{"192.0.2.12:7443", kPinC});
}

TEST_CASE("coordinator list: a fingerprint count that is neither one nor one per address") {
    auto why = refusal("192.0.2.10:7443,192.0.2.11:7443,192.0.2.12:7443", kPinA + "," + kPinB);
    CHECK_THAT(why, Catch::Contains("--fingerprint gives 2 fingerprints for 3 coordinators") &&
                        Catch::Contains("one per address"));
    why = refusal("192.0.2.10:7443", kPinA + "," + kPinB);
    CHECK_THAT(why, Catch::Contains("2 fingerprints for 1 coordinators"));
}

TEST_CASE("coordinator list: malformed entries are refused naming what is wrong") {
    CHECK_THAT(refusal("", kPinA), Catch::Contains("no coordinator address"));
    CHECK_THAT(refusal("192.0.2.10:7443", ""), Catch::Contains("fingerprint is required"));
    CHECK_THAT(refusal("192.0.2.10:7443,", kPinA), Catch::Contains("empty entry 2"));
    CHECK_THAT(refusal("192.0.2.10:7443,,192.0.2.11:7443", kPinA),
               Catch::Contains("empty entry 2"));
    CHECK_THAT(refusal("192.0.2.10:7443", kPinA + ","), Catch::Contains("empty entry 2"));
    CHECK_THAT(refusal("192.0.2.10:7443,192.0.2.11", kPinA), Catch::Contains("must be host:port"));
    CHECK_THAT(refusal("192.0.2.10:7443,192.0.2.11:70000", kPinA),
               Catch::Contains("needs a port 1..65535"));
    CHECK_THAT(refusal("192.0.2.10:7443,192.0.2.10:7443", kPinA), Catch::Contains("listed twice"));
    CHECK_THAT(
        refusal("192.0.2.10:7443,192.0.2.11:7443", kPinA + ",sha256:12"),
        Catch::Contains("fingerprint 2 (for 192.0.2.11:7443)") && Catch::Contains("hex digits"));
    CHECK_THAT(refusal("192.0.2.10:7443", "md5:00"), Catch::Contains("lacks 'sha256:'"));
    // What the operator pasted is quoted escaped: a stray newline does not break the line.
    CHECK_THAT(refusal("192.0.2.10\n:x", kPinA), Catch::Contains("\\x0a"));
    CHECK_THAT(refusal("192.0.2.10:7443", "md5\n:00"), Catch::Contains("\\x0a"));
}

TEST_CASE("coordinator list: at most kMaxCoordinators replicas") {
    std::string addresses;
    for (std::size_t i = 0; i < kMaxCoordinators; ++i) {
        addresses += (i ? "," : "") + std::string("192.0.2.") + std::to_string(i + 1) + ":7443";
    }
    CHECK(parse_coordinator_list(addresses, kPinA).size() == kMaxCoordinators);
    CHECK_THAT(refusal(addresses + ",192.0.2.99:7443", kPinA),
               Catch::Contains("at most " + std::to_string(kMaxCoordinators)));
    CHECK_THAT(refusal(std::string(100000, ','), kPinA), Catch::Contains("entries"));
}

TEST_CASE("coordinator list: formatted for the agent, it parses back the same") {
    CoordinatorList shared = {{"192.0.2.10:7443", kPinA}, {"[2001:db8::1]:7443", kPinA}};
    CHECK(format_addresses(shared) == "192.0.2.10:7443,[2001:db8::1]:7443");
    CHECK(format_fingerprints(shared) == kPinA);  // one, since they share it
    CHECK(parse_coordinator_list(format_addresses(shared), format_fingerprints(shared)) == shared);

    CoordinatorList each = {{"192.0.2.10:7443", kPinA}, {"192.0.2.11:7443", kPinB}};
    CHECK(format_fingerprints(each) == kPinA + "," + kPinB);
    CHECK(parse_coordinator_list(format_addresses(each), format_fingerprints(each)) == each);
    CHECK(format_addresses({}).empty());
    CHECK(format_fingerprints({}).empty());
}

TEST_CASE("coordinator list: two lists are one mesh when they pin a certificate in common") {
    CoordinatorList ab = {{"192.0.2.10:7443", kPinA}, {"192.0.2.11:7443", kPinB}};
    CHECK(shares_fingerprint(ab, {{"198.51.100.1:7443", kPinB}}));
    CHECK_FALSE(shares_fingerprint(ab, {{"192.0.2.10:7443", kPinC}}));
    CHECK_FALSE(shares_fingerprint({{"192.0.2.10:7443", ""}}, {{"192.0.2.10:7443", ""}}));
    CHECK_FALSE(shares_fingerprint({}, ab));
}

TEST_CASE("coordinator address: host:port with a port 1..65535") {
    CHECK_NOTHROW(validate_coordinator_address("192.0.2.10:7443"));
    CHECK_NOTHROW(validate_coordinator_address("[2001:db8::1]:1"));
    CHECK_THROWS_AS(validate_coordinator_address(":7443"), mesh::Error);
    CHECK_THROWS_AS(validate_coordinator_address("192.0.2.10:"), mesh::Error);
    CHECK_THROWS_AS(validate_coordinator_address("192.0.2.10:0"), mesh::Error);
    CHECK_THROWS_AS(validate_coordinator_address("192.0.2.10:7443x"), mesh::Error);
    CHECK_THROWS_AS(validate_coordinator_address(std::string(300, 'a') + ":1"), mesh::Error);
    CHECK_THROWS_WITH(validate_coordinator_address("\r192.0.2.10:7443"),
                      Catch::Contains("'\\x0d192.0.2.10:7443' has a character"));
    CHECK_THROWS_AS(validate_coordinator_address("coord example:7443"), mesh::Error);
    CHECK_THROWS_AS(validate_coordinator_address("b\xc3\xa4r:7443"), mesh::Error);
}
