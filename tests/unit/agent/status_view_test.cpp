// meshctl status with a coordinator run as replicas: the table names the replica the stream is
// on and lists the others; the JSON carries every replica with its pin; one coordinator reads as
// it always did.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "agent/status_view.hpp"

using namespace mesh::agent;

namespace {

const std::string kPinA = "sha256:" + std::string(64, 'a');
const std::string kPinB = "sha256:" + std::string(64, 'b');

mesh::v1::StatusResponse joined(std::initializer_list<std::pair<const char*, std::string>> list,
                                std::size_t current) {
    mesh::v1::StatusResponse s;
    s.set_joined(true);
    s.set_connected(true);
    s.set_node_id("n-1");
    s.set_hostname("web");
    std::size_t i = 0;
    for (const auto& [address, pin] : list) {
        auto* c = s.add_coordinators();
        c->set_address(address);
        c->set_fingerprint(pin);
        c->set_current(i == current);
        if (i == current) {
            s.set_coordinator(address);
            s.set_fingerprint(pin);
        }
        ++i;
    }
    return s;
}

}  // namespace

TEST_CASE("status: one coordinator shows as before") {
    auto s = joined({{"192.0.2.10:7443", kPinA}}, 0);
    auto table = render_status_table(s, 0);
    CHECK_THAT(table, Catch::Contains("coordinator: 192.0.2.10:7443 (connected)"));
    CHECK_THAT(table, !Catch::Contains("replicas:"));
    CHECK_THAT(table, Catch::Contains("cert pin:    " + kPinA + "\n"));
    auto json = nlohmann::json::parse(render_status_json(s));
    CHECK(json["coordinator"] == "192.0.2.10:7443");
    REQUIRE(json["coordinators"].size() == 1);
    CHECK(json["coordinators"][0]["current"] == true);
}

TEST_CASE("status: replicas, and the one the stream is on") {
    auto s =
        joined({{"192.0.2.10:7443", kPinA}, {"192.0.2.11:7443", kPinB}, {"c3:7443", kPinA}}, 1);
    auto table = render_status_table(s, 0);
    CHECK_THAT(table, Catch::Contains("coordinator: 192.0.2.11:7443 (connected)"));
    CHECK_THAT(table, Catch::Contains(
                          "replicas:    192.0.2.10:7443, 192.0.2.11:7443 (stream), c3:7443\n"));
    CHECK_THAT(table, Catch::Contains("cert pin:    " + kPinB + " (of the stream's replica"));
    auto json = nlohmann::json::parse(render_status_json(s));
    REQUIRE(json["coordinators"].size() == 3);
    CHECK(json["coordinators"][1]["address"] == "192.0.2.11:7443");
    CHECK(json["coordinators"][1]["fingerprint"] == kPinB);
    CHECK(json["coordinators"][1]["current"] == true);
    CHECK(json["coordinators"][0]["current"] == false);
    CHECK(json["fingerprint"] == kPinB);

    s.set_connected(false);
    s.set_last_error("Socket closed (code 14)");
    CHECK_THAT(render_status_table(s, 0),
               Catch::Contains("coordinator: 192.0.2.11:7443 (disconnected: Socket closed"));
}
