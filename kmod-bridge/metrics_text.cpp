#include "kmod-bridge/metrics_text.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace mesh::metrics {

namespace {

bool name_char(char c, bool first, bool label) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (alpha) return true;
    if (c == ':' && !label) return true;
    return !first && c >= '0' && c <= '9';
}

// Backslash and newline escaped, and with `quotes` the double quote (label values).
std::string escaped(const std::string& text, bool quotes) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\' || (quotes && c == '"')) {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

void append_labels(std::string& out, const Labels& labels, const std::string& le = {}) {
    if (labels.empty() && le.empty()) return;
    out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
        check_name(k, true);
        if (!first) out += ',';
        first = false;
        out += k;
        out += "=\"";
        out += escape_label_value(v);
        out += '"';
    }
    if (!le.empty()) {
        if (!first) out += ',';
        out += "le=\"" + le + "\"";
    }
    out += '}';
}

const char* type_name(Family::Type type) {
    switch (type) {
        case Family::Type::counter:
            return "counter";
        case Family::Type::histogram:
            return "histogram";
        case Family::Type::gauge:
            break;
    }
    return "gauge";
}

void render_histogram(std::string& out, const std::string& name, const HistogramSample& h) {
    for (std::size_t i = 0; i < h.bounds.size() && i < h.counts.size(); ++i) {
        out += name + "_bucket";
        append_labels(out, h.labels, number(h.bounds[i]));
        out += ' ' + std::to_string(h.counts[i]) + '\n';
    }
    out += name + "_bucket";
    append_labels(out, h.labels, "+Inf");
    out += ' ' + std::to_string(h.count) + '\n';
    out += name + "_sum";
    append_labels(out, h.labels);
    out += ' ' + number(h.sum) + '\n';
    out += name + "_count";
    append_labels(out, h.labels);
    out += ' ' + std::to_string(h.count) + '\n';
}

}  // namespace

std::string escape_label_value(const std::string& value) {
    return escaped(value, true);
}

std::string escape_help(const std::string& text) {
    return escaped(text, false);
}

void check_name(const std::string& name, bool label) {
    bool ok = !name.empty();
    for (std::size_t i = 0; ok && i < name.size(); ++i) ok = name_char(name[i], i == 0, label);
    if (!ok || (label && name.rfind("__", 0) == 0)) {
        throw std::invalid_argument("not a valid Prometheus " +
                                    std::string(label ? "label" : "metric") + " name: " + name);
    }
}

std::string render(const std::vector<Family>& families) {
    std::string out;
    for (const auto& f : families) {
        check_name(f.name, false);
        out += "# HELP " + f.name + ' ' + escape_help(f.help) + '\n';
        out += "# TYPE " + f.name + ' ' + type_name(f.type) + '\n';
        if (f.type == Family::Type::histogram) {
            for (const auto& h : f.histograms) render_histogram(out, f.name, h);
            continue;
        }
        for (const auto& s : f.samples) {
            out += f.name;
            append_labels(out, s.labels);
            out += ' ' + number(s.value) + '\n';
        }
    }
    return out;
}

}  // namespace mesh::metrics
