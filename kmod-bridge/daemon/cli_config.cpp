#include "kmod-bridge/daemon/cli_config.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace mesh::daemon {

namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;

std::string key_of(std::string option) {
    std::replace(option.begin(), option.end(), '-', '_');
    return option;
}

CLI::Option* find_option(CLI::App& app, const ConfigKey& key) {
    CLI::App* owner = key.subcommand.empty() ? &app : app.get_subcommand(key.subcommand);
    return owner->get_option_no_throw("--" + key.option);
}

std::string without_prefix(std::string message, const std::string& option) {
    const std::string prefix = "--" + option + ": ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    return message;
}

// The closest known key when the name is off by a typo or spelt with dashes.
std::string hint(const std::string& key, const std::vector<ConfigKey>& keys) {
    for (const auto& k : keys) {
        if (key_of(key) == k.key) return " (did you mean \"" + k.key + "\"?)";
    }
    return "";
}

}  // namespace

std::vector<ConfigKey> config_keys(CLI::App& app, const std::string& subcommand) {
    std::vector<ConfigKey> keys;
    auto add = [&keys](CLI::App& owner, const std::string& sub) {
        for (const CLI::Option* opt : owner.get_options()) {
            if (!opt->get_configurable() || opt->get_lnames().empty()) continue;
            const auto& name = opt->get_lnames().front();
            keys.push_back({key_of(name), sub, name, opt->get_description(),
                            opt->get_expected_min() == 0, opt->get_items_expected_max() > 1});
        }
    };
    add(app, "");
    if (!subcommand.empty()) add(*app.get_subcommand(subcommand), subcommand);
    return keys;
}

ConfigFile::ConfigFile(std::vector<ConfigKey> keys, TryParse try_parse, std::string default_path,
                       std::vector<std::string> trailing)
    : keys_(std::move(keys)),
      try_parse_(std::move(try_parse)),
      default_path_(std::move(default_path)),
      trailing_(std::move(trailing)) {}

std::shared_ptr<ConfigFile> ConfigFile::install(CLI::App& app, std::vector<ConfigKey> keys,
                                                TryParse try_parse, const std::string& default_path,
                                                std::vector<std::string> trailing) {
    auto file = std::make_shared<ConfigFile>(std::move(keys), std::move(try_parse), default_path,
                                             std::move(trailing));
    file->option_ = app.set_config("--config", default_path,
                                   "TOML file of settings, keys named after the options "
                                   "(listen-port -> listen_port); read if present, options "
                                   "given here win");
    app.config_formatter(file);
    app.allow_config_extras(CLI::config_extras_mode::error);
    return file;
}

std::string ConfigFile::path() const {
    if (option_ && option_->count() > 0) return option_->results().front();
    return default_path_;
}

std::vector<CLI::ConfigItem> ConfigFile::from_config(std::istream& input) const {
    std::string text(kMaxConfigBytes + 1, '\0');
    input.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(input.gcount()));
    if (text.size() > kMaxConfigBytes) {
        throw ConfigFileError(path() + ": larger than 1 MiB");
    }
    std::vector<CLI::ConfigItem> result;
    try {
        for (const auto& entry : read_config_text(text)) {
            auto known = std::find_if(keys_.begin(), keys_.end(),
                                      [&](const ConfigKey& k) { return k.key == entry.key; });
            if (known == keys_.end()) {
                throw ConfigLineError(entry.line, entry.key,
                                      "unknown key \"" + entry.key + "\"" + hint(entry.key, keys_));
            }
            if (entry.values.empty()) continue;  // [] = the default
            if (entry.values.size() > 1 && !known->list) {
                throw ConfigLineError(entry.line, entry.key,
                                      "\"" + entry.key + "\" takes one value, not an array");
            }
            std::vector<std::string> args;
            if (!known->subcommand.empty()) args.push_back(known->subcommand);
            for (const auto& v : entry.values) {
                if (known->flag) {
                    args.push_back("--" + known->option + "=" + v);
                } else {
                    args.push_back("--" + known->option);
                    args.push_back(v);
                }
            }
            if (known->subcommand.empty())
                args.insert(args.end(), trailing_.begin(), trailing_.end());
            try {
                try_parse_(args);
            } catch (const CLI::ParseError& e) {
                throw ConfigLineError(entry.line, entry.key,
                                      "bad value for \"" + entry.key +
                                          "\": " + without_prefix(e.what(), known->option));
            }
            CLI::ConfigItem item;
            if (!known->subcommand.empty()) item.parents = {known->subcommand};
            item.name = known->option;
            item.inputs = entry.values;
            result.push_back(std::move(item));
        }
    } catch (const ConfigLineError& e) {
        throw ConfigFileError(path() + ":" + std::to_string(e.line()) + ": " + e.what());
    }
    return result;
}

std::string effective_config(CLI::App& app, const std::vector<ConfigKey>& keys,
                             const std::string& header) {
    std::string out = "# " + header + "\n";
    for (const auto& key : keys) {
        const CLI::Option* opt = find_option(app, key);
        if (!opt) continue;
        std::vector<std::string> values = opt->results();
        if (values.empty() && !opt->get_default_str().empty()) values = {opt->get_default_str()};
        if (values.empty() && key.flag) values = {"false"};
        out += "\n# " + key.description + "\n";
        if (key.flag && !values.empty()) {
            const bool on =
                values.back() != "false" && values.back() != "0" && values.back() != "-1";
            out += key.key + " = " + (on ? "true" : "false") + "\n";
        } else if (values.empty()) {
            out += "# " + key.key + " = " + (key.list ? "[]" : "\"\"") + "\n";
        } else {
            out += key.key + " = " + render_config_value(values, key.list) + "\n";
        }
    }
    return out;
}

void check_default_readable(const ConfigFile& file) {
    const auto path = file.path();
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && ::access(path.c_str(), R_OK) != 0) {
        throw ConfigFileError(path + ": exists but cannot be read");
    }
}

std::optional<int> parse_command_line(CLI::App& app, const ConfigFile& config,
                                      const std::string& program, int argc, char** argv) {
    try {
        app.parse(argc, argv);
        check_default_readable(config);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return 2;
    }
    return std::nullopt;
}

}  // namespace mesh::daemon
