// Counters and histograms: bounded labels, cumulative buckets, concurrent updates, and their
// Prometheus text as the renderer writes it.
#include <catch2/catch.hpp>
#include <thread>

#include "kmod-bridge/metrics_counters.hpp"

using namespace mesh::metrics;

TEST_CASE("a labeled counter shows every value, 0 included, in the order given") {
    LabeledCounter c("outcome", {"ok", "bad_token", "unavailable"});
    c.add(0);
    c.add(0, 2);
    c.add(2);
    CHECK(c.value(0) == 3);
    CHECK(c.value(1) == 0);
    Family f{"joins_total", "Joins", Family::Type::counter, c.samples(), {}};
    CHECK(render({f}) ==
          "# HELP joins_total Joins\n# TYPE joins_total counter\n"
          "joins_total{outcome=\"ok\"} 3\n"
          "joins_total{outcome=\"bad_token\"} 0\n"
          "joins_total{outcome=\"unavailable\"} 1\n");
    CHECK_THROWS_AS(c.add(3), std::out_of_range);
    CHECK_THROWS_AS(LabeledCounter("bad-label", {"x"}), std::invalid_argument);
}

TEST_CASE("a histogram counts each observation in the first bucket not below it") {
    Histogram h({0.001, 0.01, 0.1});
    h.observe(0.0005);
    h.observe(0.001);  // le is inclusive
    h.observe(0.005);
    h.observe(0.5);  // above every bound: +Inf only
    auto s = h.snapshot({{"op", "read"}});
    CHECK(s.counts == std::vector<std::uint64_t>{2, 3, 3});
    CHECK(s.count == 4);
    CHECK(s.sum == Approx(0.5065));
    Family f{"lat_seconds", "Latency", Family::Type::histogram, {}, {s}};
    const std::string text = render({f});
    CHECK(text.find("lat_seconds_bucket{op=\"read\",le=\"0.001\"} 2\n") != std::string::npos);
    CHECK(text.find("lat_seconds_bucket{op=\"read\",le=\"0.1\"} 3\n") != std::string::npos);
    CHECK(text.find("lat_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n") != std::string::npos);
    CHECK(text.find("lat_seconds_count{op=\"read\"} 4\n") != std::string::npos);
}

TEST_CASE("a histogram refuses empty or unordered bounds") {
    CHECK_THROWS_AS(Histogram({}), std::invalid_argument);
    CHECK_THROWS_AS(Histogram({0.1, 0.1}), std::invalid_argument);
    CHECK_THROWS_AS(Histogram({1, 0.5}), std::invalid_argument);
    const auto bounds = latency_bounds_1ms_10s();
    CHECK(bounds.front() == 0.001);
    CHECK(bounds.back() == 10);
    CHECK_NOTHROW(Histogram(bounds));
}

TEST_CASE("concurrent updates are all counted") {
    Counter c;
    Histogram h({1, 2});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10000; ++i) {
                c.add();
                h.observe(t % 2 == 0 ? 0.5 : 1.5);
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(c.value() == 40000);
    auto s = h.snapshot();
    CHECK(s.counts == std::vector<std::uint64_t>{20000, 40000});
    CHECK(s.count == 40000);
    CHECK(s.sum == Approx(40000.0));
}
