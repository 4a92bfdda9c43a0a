#pragma once
// Metrics as data and their Prometheus text exposition (format 0.0.4). A scrape builds a list of
// families (counters, gauges, histograms, each sample with its labels) and renders it. Pure:
// label values come from untrusted places (hostnames) and are escaped here.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mesh::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
    Labels labels;
    double value = 0;
};

// Cumulative buckets, as Prometheus wants them: counts[i] observations <= bounds[i].
struct HistogramSample {
    Labels labels;
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;  // same size as bounds, cumulative
    std::uint64_t count = 0;            // every observation (the +Inf bucket)
    double sum = 0;
};

struct Family {
    enum class Type { counter, gauge, histogram };
    std::string name;  // [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's samples get no _total added
    std::string help;
    Type type = Type::gauge;
    std::vector<Sample> samples;
    std::vector<HistogramSample> histograms;  // histogram families only
};

// A label value with \ " and newline escaped; other bytes (UTF-8 or not) pass unchanged.
std::string escape_label_value(const std::string& value);
// HELP text: \ and newline escaped.
std::string escape_help(const std::string& text);
// Throws std::invalid_argument on a metric or label name Prometheus would refuse.
void check_name(const std::string& name, bool label);

std::string render(const std::vector<Family>& families);

}  // namespace mesh::metrics
