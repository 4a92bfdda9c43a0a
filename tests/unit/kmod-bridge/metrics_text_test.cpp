// The Prometheus text renderer: layout, escaping of untrusted label values, name checks.
#include <catch2/catch.hpp>

#include "kmod-bridge/metrics_text.hpp"

using namespace mesh::metrics;

TEST_CASE("label values escape backslash, quote and newline") {
    CHECK(escape_label_value("plain-host") == "plain-host");
    CHECK(escape_label_value("a\"b") == "a\\\"b");
    CHECK(escape_label_value("a\\b") == "a\\\\b");
    CHECK(escape_label_value("a\nb") == "a\\nb");
    CHECK(escape_label_value("h\xc3\xa9") == "h\xc3\xa9");
}

TEST_CASE("a gauge family renders HELP, TYPE and one line per sample") {
    Family f{"mesh_nodes",
             "Nodes\nby state",
             Family::Type::gauge,
             {{{{"state", "online"}}, 3}, {{{"state", "off\"line"}}, 0}},
             {}};
    CHECK(render({f}) ==
          "# HELP mesh_nodes Nodes\\nby state\n"
          "# TYPE mesh_nodes gauge\n"
          "mesh_nodes{state=\"online\"} 3\n"
          "mesh_nodes{state=\"off\\\"line\"} 0\n");
}

TEST_CASE("a sample without labels has no braces") {
    Family f{"up", "x", Family::Type::counter, {{{}, 1.5}}, {}};
    CHECK(render({f}) == "# HELP up x\n# TYPE up counter\nup 1.5\n");
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, sum and count") {
    Family f{"lat_seconds", "h", Family::Type::histogram, {}, {}};
    f.histograms.push_back({{{"op", "put"}}, {0.001, 0.01}, {2, 5}, 7, 0.25});
    CHECK(render({f}) ==
          "# HELP lat_seconds h\n# TYPE lat_seconds histogram\n"
          "lat_seconds_bucket{op=\"put\",le=\"0.001\"} 2\n"
          "lat_seconds_bucket{op=\"put\",le=\"0.01\"} 5\n"
          "lat_seconds_bucket{op=\"put\",le=\"+Inf\"} 7\n"
          "lat_seconds_sum{op=\"put\"} 0.25\n"
          "lat_seconds_count{op=\"put\"} 7\n");
}

TEST_CASE("invalid metric and label names are refused") {
    CHECK_THROWS_AS(check_name("1abc", false), std::invalid_argument);
    CHECK_THROWS_AS(check_name("a-b", false), std::invalid_argument);
    CHECK_THROWS_AS(check_name("a:b", true), std::invalid_argument);
    CHECK_THROWS_AS(check_name("__x", true), std::invalid_argument);
    CHECK_NOTHROW(check_name("mesh:rate_5m", false));
    Family bad{"ok", "h", Family::Type::gauge, {{{{"bad-label", "v"}}, 1}}, {}};
    CHECK_THROWS_AS(render({bad}), std::invalid_argument);
}
