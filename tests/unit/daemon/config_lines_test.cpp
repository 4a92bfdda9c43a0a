// The config file's entries and their lines (kmod-bridge/daemon/config_lines.hpp).
#include <catch2/catch.hpp>

#include "kmod-bridge/daemon/config_lines.hpp"

using mesh::daemon::ConfigLineError;
using mesh::daemon::read_config_text;

namespace {

std::size_t error_line(const std::string& text) {
    try {
        read_config_text(text);
    } catch (const ConfigLineError& e) {
        return e.line();
    }
    return 0;
}

}  // namespace

TEST_CASE("config keys keep their lines, values as CLI11 reads them") {
    auto entries = read_config_text(
        "# agent\n\nlisten_port = 51820\nsocket = \"/run/mesh/a b.sock\"  # comment\n"
        "stun = [\"a:1\",\n  \"b:2\"]\nno_path_probing = true\n");
    REQUIRE(entries.size() == 4);
    CHECK(entries[0].key == "listen_port");
    CHECK(entries[0].line == 3);
    CHECK(entries[0].values == std::vector<std::string>{"51820"});
    CHECK(entries[1].values == std::vector<std::string>{"/run/mesh/a b.sock"});
    CHECK(entries[2].line == 5);
    CHECK(entries[2].array);
    CHECK(entries[2].values == std::vector<std::string>{"a:1", "b:2"});
    CHECK(entries[3].line == 7);
    CHECK(entries[3].values == std::vector<std::string>{"true"});
}

TEST_CASE("an empty array has no values") {
    auto entries = read_config_text("stun = []\n");
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].values.empty());
}

TEST_CASE("mistakes name their line") {
    CHECK(error_line("a_key = 1\n[serve]\n") == 2);
    CHECK(error_line("\n\njust words\n") == 3);
    CHECK(error_line("x = 1\nx = 2\n") == 2);
    CHECK(error_line("serve.listen = 1\n") == 1);
    CHECK(error_line("a = \n") == 1);
    CHECK(error_line("k = [1,\n2\n") == 1);
    CHECK(error_line("path = \"/a#b\"\n") == 1);
}

TEST_CASE("rendered values read back the same") {
    const std::vector<std::vector<std::string>> cases = {
        {"51820"}, {"/var/lib/x"}, {"true"}, {"0.0.0.0:7443"}, {"a:1", "b:2"}, {"say \"hi\""}};
    for (const auto& values : cases) {
        const bool array = values.size() > 1;
        auto text = "k = " + mesh::daemon::render_config_value(values, array) + "\n";
        auto entries = read_config_text(text);
        REQUIRE(entries.size() == 1);
        CHECK(entries[0].values == values);
    }
}
