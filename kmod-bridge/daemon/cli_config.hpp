#pragma once
// A daemon's config file on CLI11's config support: --config PATH (default DEFAULT_PATH, read
// only if present), keys named after the long options (listen-port -> listen_port), flags on
// the command line win, and every mistake is reported as PATH:LINE: ... naming the key. A bad
// value is found by parsing that one key as its command-line option in a fresh copy of the
// daemon's options, so a file accepts exactly what the command line accepts.
#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kmod-bridge/daemon/config_lines.hpp"

namespace mesh::daemon {

// One config key and the option it sets.
struct ConfigKey {
    std::string key;         // listen_port
    std::string subcommand;  // "" = the program's own option, else e.g. "serve"
    std::string option;      // listen-port (long name)
    std::string description;
    bool flag = false;
    bool list = false;
};

// Every configurable option of `app` with a long name (and of its subcommand `subcommand`,
// when given), in the order --help lists them.
std::vector<ConfigKey> config_keys(CLI::App& app, const std::string& subcommand = {});

// Parses command-line arguments (in order) into a fresh copy of the daemon's options; throws
// CLI::ParseError for a bad one.
using TryParse = std::function<void(const std::vector<std::string>& args)>;

class ConfigFile : public CLI::ConfigTOML {
  public:
    // trailing: arguments the fresh copy needs after a top-level key's (a required subcommand).
    ConfigFile(std::vector<ConfigKey> keys, TryParse try_parse, std::string default_path,
               std::vector<std::string> trailing = {});
    // Adds --config to `app`; keep the ConfigFile alive as long as `app`.
    static std::shared_ptr<ConfigFile> install(CLI::App& app, std::vector<ConfigKey> keys,
                                               TryParse try_parse, const std::string& default_path,
                                               std::vector<std::string> trailing = {});

    std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
    // The file in use: --config's, else the default.
    std::string path() const;

  private:
    std::vector<ConfigKey> keys_;
    TryParse try_parse_;
    std::string default_path_;
    std::vector<std::string> trailing_;
    CLI::Option* option_ = nullptr;
};

// A mistake in the config file: PATH:LINE: what.
class ConfigFileError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The effective settings (after the command line and the file), as TOML the daemon reads back:
// set keys as key = value, unset ones (no value, no default) as comments.
std::string effective_config(CLI::App& app, const std::vector<ConfigKey>& keys,
                             const std::string& header);

// Checks after parsing that a default config file which exists could be read (CLI11 skips an
// unreadable one silently). Throws ConfigFileError.
void check_default_readable(const ConfigFile& file);

// The TryParse of a daemon whose options `add_options(app, cli)` adds: the arguments go into a
// fresh App over a scratch Cli (CLI11 takes a vector in reverse order).
template <class Cli>
TryParse parse_into_fresh(void (*add_options)(CLI::App&, Cli&)) {
    return [add_options](const std::vector<std::string>& args) {
        CLI::App fresh;
        Cli scratch;
        add_options(fresh, scratch);
        std::vector<std::string> reversed(args.rbegin(), args.rend());
        fresh.parse(reversed);
    };
}

// Parses the command line and the config file. Returns the exit code when the daemon must stop
// here (--help, --version, a bad option: CLI11's message; a bad config file: "PROGRAM: what",
// exit 2), nothing when it goes on.
std::optional<int> parse_command_line(CLI::App& app, const ConfigFile& config,
                                      const std::string& program, int argc, char** argv);

}  // namespace mesh::daemon
