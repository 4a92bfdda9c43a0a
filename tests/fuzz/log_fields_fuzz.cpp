// Feeds arbitrary messages to the log line parser and the JSON renderer: the JSON is always
// valid, and a value quoted with log_quote reads back as itself.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "kmod-bridge/daemon/log_fields.hpp"
#include "kmod-bridge/untrusted_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto line = mesh::daemon::log_json("t", "info", text);
    if (!nlohmann::json::accept(line)) __builtin_trap();
    auto fields = mesh::daemon::parse_log_fields("event=x v=" + mesh::kb::log_quote(text, 4096));
    if (size <= 4096 && (!fields || fields->size() != 2 || (*fields)[1].second != text)) {
        __builtin_trap();
    }
    return 0;
}
