// Log messages read back into their pairs, and the JSON lines (kmod-bridge/daemon/log_fields).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "kmod-bridge/daemon/log_fields.hpp"
#include "kmod-bridge/daemon/log_output.hpp"
#include "kmod-bridge/untrusted_text.hpp"

using mesh::daemon::log_json;
using mesh::daemon::parse_log_fields;

TEST_CASE("key=value pairs, quoted values unescaped") {
    auto fields = parse_log_fields("event=joined node=n-1 error=\"a \\\"b\\\" \\\\ \\x0a\"");
    REQUIRE(fields);
    REQUIRE(fields->size() == 3);
    CHECK((*fields)[0] == std::make_pair(std::string("event"), std::string("joined")));
    CHECK((*fields)[2].second == "a \"b\" \\ \n");
}

TEST_CASE("log_quote is inverted") {
    for (std::string text : {std::string("plain"), std::string("with space"),
                             std::string("ctl\x01\x7f\xff"), std::string("q\"\\"), std::string()}) {
        auto fields = parse_log_fields("event=x v=" + mesh::kb::log_quote(text));
        REQUIRE(fields);
        CHECK(fields->at(1).second == text);
    }
}

TEST_CASE("a message that is not pairs is not parsed") {
    CHECK_FALSE(parse_log_fields("hello world"));
    CHECK_FALSE(parse_log_fields("event=x k=\"open"));
    CHECK_FALSE(parse_log_fields("event=x k=\"a\"b"));
    CHECK_FALSE(parse_log_fields(""));
}

TEST_CASE("json lines hold time, level and the pairs") {
    auto j = nlohmann::json::parse(
        log_json("2026-12-03T15:00:00.000Z", "info", "event=started level=x socket=/run/a.sock"));
    CHECK(j["time"] == "2026-12-03T15:00:00.000Z");
    CHECK(j["level"] == "info");
    CHECK(j["event"] == "started");
    CHECK(j["level_2"] == "x");
    CHECK(j["socket"] == "/run/a.sock");
    auto free = nlohmann::json::parse(log_json("t", "warning", "not pairs"));
    CHECK(free["msg"] == "not pairs");
    // Bytes that are not UTF-8 still make valid JSON.
    auto bad = nlohmann::json::parse(log_json("t", "info", "event=x v=\"\\xff\""));
    CHECK(bad["v"].get<std::string>().size() == 3);
}

TEST_CASE("journal stream and priorities") {
    auto js = mesh::daemon::parse_journal_stream("8:12345");
    REQUIRE(js);
    CHECK(js->first == 8);
    CHECK(js->second == 12345);
    CHECK_FALSE(mesh::daemon::parse_journal_stream("8:"));
    CHECK_FALSE(mesh::daemon::parse_journal_stream("x:1"));
    CHECK(mesh::daemon::syslog_priority(spdlog::level::info) == 6);
    CHECK(mesh::daemon::syslog_priority(spdlog::level::warn) == 4);
    CHECK(mesh::daemon::syslog_priority(spdlog::level::err) == 3);
    CHECK(mesh::daemon::parse_log_format("json") == mesh::daemon::LogFormat::json);
    CHECK_FALSE(mesh::daemon::parse_log_format("xml"));
}
