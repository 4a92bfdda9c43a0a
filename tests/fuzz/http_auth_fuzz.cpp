// Feeds arbitrary bytes to what the metrics listener parses itself (Beast parses the HTTP): the
// Authorization header's Basic credentials, and untrusted text (hostnames) as a Prometheus label
// value. The password, when found, is what follows the first colon of the decoded pair; an
// escaped label value has no raw newline or unescaped quote and unescapes to the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "coordinator/web/http_auth.hpp"
#include "kmod-bridge/metrics_text.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

std::string unescape(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            FUZZ_CHECK(text[i] != '"' && text[i] != '\n');
            out += text[i];
            continue;
        }
        FUZZ_CHECK(i + 1 < text.size());
        const char next = text[++i];
        FUZZ_CHECK(next == '\\' || next == '"' || next == 'n');
        out += next == 'n' ? '\n' : next;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    if (auto password = mesh::coord::basic_password(input)) {
        FUZZ_CHECK(password->size() < input.size());
    }
    FUZZ_CHECK(unescape(mesh::metrics::escape_label_value(input)) == input);
    (void)mesh::coord::loopback_host(input);
    return 0;
}
