#pragma once
// Where the coordinator keeps its state, as given to `serve --store` and `migrate`: the SQLite
// file in a state directory, or an etcd cluster (several client addresses, and the key prefix
// the fleet lives under so several fleets can share one cluster). Pure.
#include <string>
#include <string_view>
#include <vector>

namespace mesh::coord {

struct StoreUrl {
    enum class Kind { sqlite, etcd };
    Kind kind = Kind::sqlite;
    std::string sqlite_dir;              // sqlite: the state directory (coordinator.db inside)
    std::vector<std::string> endpoints;  // etcd: "host:port", in the order given
    std::string prefix = "/mesh/";       // etcd: every key starts with it; ends with '/'

    std::string to_string() const;
};

// "sqlite:DIR", or "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]" (PREFIX: letters, digits, '-', '_',
// '.', '/'; "/mesh/" by default). Throws mesh::Error saying what is wrong and what is expected.
StoreUrl parse_store_url(std::string_view text);

}  // namespace mesh::coord
