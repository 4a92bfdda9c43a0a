#include "coordinator/sqlite_store.hpp"

#include <sqlite3.h>

#include <cstring>

#include "kmod-bridge/error.hpp"

namespace mesh::coord {

namespace {

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(
  id TEXT PRIMARY KEY, hash BLOB NOT NULL, created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL, reusable INTEGER NOT NULL, max_uses INTEGER NOT NULL,
  uses INTEGER NOT NULL, revoked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes(
  id TEXT PRIMARY KEY, hostname TEXT NOT NULL UNIQUE, wg_key BLOB NOT NULL UNIQUE,
  machine_key BLOB NOT NULL UNIQUE, ipv4 TEXT NOT NULL UNIQUE, ipv6 TEXT NOT NULL UNIQUE,
  endpoints TEXT NOT NULL, created_at INTEGER NOT NULL, version INTEGER NOT NULL,
  key_version INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS nodes_by_version ON nodes(version);
CREATE TABLE IF NOT EXISTS removed(id TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS container_holds(
  prefix TEXT PRIMARY KEY, machine_key BLOB NOT NULL, hostname TEXT NOT NULL,
  until INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('version', '0');
)sql";

// Columns added after the first schema, appended in this order (so SELECT * reads the same
// layout from a new database and from a migrated one).
struct AddedColumn {
    const char* table;
    const char* name;
    const char* definition;
};
constexpr AddedColumn kAddedColumns[] = {
    {"tokens", "tags", "TEXT NOT NULL DEFAULT ''"},
    {"tokens", "ephemeral", "INTEGER NOT NULL DEFAULT 0"},
    {"nodes", "tags", "TEXT NOT NULL DEFAULT ''"},
    {"nodes", "ephemeral", "INTEGER NOT NULL DEFAULT 0"},
    {"nodes", "key_expires_at", "INTEGER NOT NULL DEFAULT 0"},
    {"nodes", "expired", "INTEGER NOT NULL DEFAULT 0"},
    {"nodes", "last_seen", "INTEGER NOT NULL DEFAULT 0"},
    {"nodes", "container_subnets", "TEXT NOT NULL DEFAULT ''"},
    {"nodes", "relay", "TEXT NOT NULL DEFAULT ''"},
    {"nodes", "nat", "INTEGER NOT NULL DEFAULT 0"},
};

std::string join_tags(const std::vector<std::string>& tags) {
    std::string out;
    for (const auto& t : tags) {
        if (!out.empty()) out += ',';
        out += t;
    }
    return out;
}

std::vector<std::string> split_tags(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        out.push_back(text.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

std::string join_endpoints(const std::vector<Endpoint>& endpoints) {
    std::string out;
    for (const auto& e : endpoints) {
        if (!out.empty()) out += ',';
        out += e.to_string();
    }
    return out;
}

std::vector<Endpoint> split_endpoints(const std::string& text) {
    std::vector<Endpoint> out;
    size_t start = 0;
    while (start < text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        out.push_back(Endpoint::parse(std::string_view(text).substr(start, comma - start)));
        start = comma + 1;
    }
    return out;
}

}  // namespace

// A prepared statement, kept for the store's life and reused (prepared once: re-preparing on
// every call cost a quarter of the coordinator's CPU at 1,000 nodes); bind/step/column with
// error context. `use` resets it for another run.
class SqliteStore::Statement {
  public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
            SQLITE_OK) {
            throw Error(std::string("sqlite prepare failed: ") + sqlite3_errmsg(db));
        }
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& use() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        return *this;
    }
    void reset() { sqlite3_reset(stmt_); }
    Statement& bind(int i, const std::string& v) {
        check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Statement& bind(int i, std::int64_t v) {
        check(sqlite3_bind_int64(stmt_, i, v));
        return *this;
    }
    Statement& bind_blob(int i, const void* p, int n) {
        check(sqlite3_bind_blob(stmt_, i, p, n, SQLITE_TRANSIENT));
        return *this;
    }
    // True while a row is available.
    bool step() {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        std::string msg = sqlite3_errmsg(db_);
        sqlite3_reset(stmt_);
        throw Error("sqlite step failed: " + msg);
    }
    std::int64_t i64(int col) { return sqlite3_column_int64(stmt_, col); }
    std::string text(int col) {
        auto p = sqlite3_column_text(stmt_, col);
        return p ? reinterpret_cast<const char*>(p) : "";
    }
    template <size_t N>
    std::array<std::uint8_t, N> blob(int col) {
        std::array<std::uint8_t, N> out{};
        if (sqlite3_column_bytes(stmt_, col) != static_cast<int>(N)) {
            throw Error("stored key has the wrong length; the database is corrupt");
        }
        std::memcpy(out.data(), sqlite3_column_blob(stmt_, col), N);
        return out;
    }

  private:
    void check(int rc) {
        if (rc != SQLITE_OK) throw Error(std::string("sqlite bind failed: ") + sqlite3_errmsg(db_));
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

// One use of a cached statement: reset when it goes out of scope, so no read stays open.
class SqliteStore::Query {
  public:
    explicit Query(Statement& s) : s_(s) {}
    ~Query() { s_.reset(); }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    Statement* operator->() { return &s_; }
    Statement& operator*() { return s_; }

  private:
    Statement& s_;
};

SqliteStore::Statement& SqliteStore::statement(const char* sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
        it = statements_.emplace(sql, std::make_unique<Statement>(db_, sql)).first;
    }
    return it->second->use();
}

SqliteStore::SqliteStore(const std::string& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        throw Error("cannot open database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    exec(kSchema);
    migrate();
}

void SqliteStore::migrate() {
    for (const auto& column : kAddedColumns) {
        const std::string sql =
            std::string("SELECT 1 FROM pragma_table_info('") + column.table + "') WHERE name = ?";
        Statement info(db_, sql.c_str());
        info.bind(1, std::string(column.name));
        if (info.step()) continue;
        exec((std::string("ALTER TABLE ") + column.table + " ADD COLUMN " + column.name + " " +
              column.definition)
                 .c_str());
    }
    // The reaper reads the map in memory now; these indexes served its queries before.
    exec("DROP INDEX IF EXISTS nodes_ephemeral; DROP INDEX IF EXISTS nodes_key_expiry;");
}

SqliteStore::~SqliteStore() {
    statements_.clear();  // finalized before the connection closes
    sqlite3_close(db_);
}

void SqliteStore::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw Error("database " + path_ + ": " + msg);
    }
}

void SqliteStore::transaction(const std::function<void()>& fn) {
    std::lock_guard lock(mutex_);
    if (depth_ > 0) {  // nested: part of the enclosing transaction
        fn();
        return;
    }
    exec("BEGIN IMMEDIATE");
    ++depth_;
    try {
        fn();
    } catch (...) {
        --depth_;
        exec("ROLLBACK");
        throw;
    }
    --depth_;
    try {
        exec("COMMIT");
    } catch (...) {
        // SQLite rolls back by itself on most COMMIT failures (SQLITE_FULL, I/O); make sure no
        // transaction stays open either way, so the next BEGIN works.
        if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

StoreSnapshot SqliteStore::load() {
    StoreSnapshot out;
    transaction([&] {
        out.nodes = nodes();
        out.removals = removals();
        out.holds = container_holds();
        out.version = version();
    });
    return out;
}

std::optional<std::string> SqliteStore::meta(const std::string& key) {
    std::lock_guard lock(mutex_);
    Query s(statement("SELECT value FROM meta WHERE key = ?"));
    s->bind(1, key);
    if (!s->step()) return std::nullopt;
    return s->text(0);
}

void SqliteStore::set_meta(const std::string& key, const std::string& value) {
    std::lock_guard lock(mutex_);
    Query s(statement("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"));
    s->bind(1, key).bind(2, value).step();
}

std::uint64_t SqliteStore::version() {
    return std::stoull(meta("version").value_or("0"));
}

std::uint64_t SqliteStore::bump_version() {
    std::lock_guard lock(mutex_);
    Query s(
        statement("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version' "
                  "RETURNING value"));
    if (!s->step()) throw Error("database " + path_ + " has no version row");
    return static_cast<std::uint64_t>(s->i64(0));
}

void SqliteStore::put_token(const TokenRecord& t) {
    std::lock_guard lock(mutex_);
    Query s(statement(
        "INSERT OR REPLACE INTO tokens(id, hash, created_at, expires_at, reusable, max_uses, uses, "
        "revoked, tags, ephemeral) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    s->bind(1, t.id).bind_blob(2, t.hash.data(), 32).bind(3, t.created_at).bind(4, t.expires_at);
    s->bind(5, std::int64_t{t.reusable}).bind(6, std::int64_t{t.max_uses});
    s->bind(7, std::int64_t{t.uses}).bind(8, std::int64_t{t.revoked});
    s->bind(9, join_tags(t.tags)).bind(10, std::int64_t{t.ephemeral}).step();
}

static TokenRecord read_token(auto& s) {
    TokenRecord t;
    t.id = s.text(0);
    t.hash = s.template blob<32>(1);
    t.created_at = s.i64(2);
    t.expires_at = s.i64(3);
    t.reusable = s.i64(4) != 0;
    t.max_uses = static_cast<std::uint32_t>(s.i64(5));
    t.uses = static_cast<std::uint32_t>(s.i64(6));
    t.revoked = s.i64(7) != 0;
    t.tags = split_tags(s.text(8));
    t.ephemeral = s.i64(9) != 0;
    return t;
}

std::optional<TokenRecord> SqliteStore::token(const std::string& id) {
    std::lock_guard lock(mutex_);
    Query s(statement("SELECT * FROM tokens WHERE id = ?"));
    s->bind(1, id);
    if (!s->step()) return std::nullopt;
    return read_token(*s);
}

std::vector<TokenRecord> SqliteStore::tokens() {
    std::lock_guard lock(mutex_);
    Query s(statement("SELECT * FROM tokens ORDER BY created_at"));
    std::vector<TokenRecord> out;
    while (s->step()) out.push_back(read_token(*s));
    return out;
}

void SqliteStore::put_node(const NodeRecord& n) {
    std::lock_guard lock(mutex_);
    Query s(statement(
        // An upsert on the id only: a clash on another unique column (key, address, hostname)
        // fails loudly instead of REPLACE silently deleting the other node.
        "INSERT INTO nodes(id, hostname, wg_key, machine_key, ipv4, ipv6, "
        "endpoints, created_at, version, key_version, tags, ephemeral, key_expires_at, "
        "expired, last_seen, container_subnets, relay, nat) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET hostname = excluded.hostname, "
        "wg_key = excluded.wg_key, machine_key = excluded.machine_key, "
        "ipv4 = excluded.ipv4, ipv6 = excluded.ipv6, endpoints = excluded.endpoints, "
        "created_at = excluded.created_at, version = excluded.version, "
        "key_version = excluded.key_version, tags = excluded.tags, "
        "ephemeral = excluded.ephemeral, key_expires_at = excluded.key_expires_at, "
        "expired = excluded.expired, last_seen = excluded.last_seen, "
        "container_subnets = excluded.container_subnets, relay = excluded.relay, "
        "nat = excluded.nat"));
    s->bind(1, n.id).bind(2, n.hostname);
    s->bind_blob(3, n.wireguard_key.bytes.data(), 32).bind_blob(4, n.machine_key.bytes.data(), 32);
    s->bind(5, n.ipv4.to_string()).bind(6, n.ipv6.to_string());
    s->bind(7, join_endpoints(n.endpoints));
    s->bind(8, n.created_at).bind(9, static_cast<std::int64_t>(n.version));
    s->bind(10, static_cast<std::int64_t>(n.key_version)).bind(11, join_tags(n.tags));
    s->bind(12, std::int64_t{n.ephemeral}).bind(13, n.key_expires_at);
    std::vector<std::string> subnets;
    for (const auto& p : n.container_subnets) subnets.push_back(p.to_string());
    s->bind(14, std::int64_t{n.expired}).bind(15, n.last_seen).bind(16, join_tags(subnets));
    s->bind(17, n.relay ? n.relay->to_string() : std::string());
    s->bind(18, std::int64_t{n.nat}).step();
}

void SqliteStore::touch_node(const std::string& id, std::int64_t last_seen) {
    std::lock_guard lock(mutex_);
    Query s(statement("UPDATE nodes SET last_seen = ? WHERE id = ?"));
    s->bind(1, last_seen).bind(2, id).step();
}

static NodeRecord read_node(auto& s) {
    NodeRecord n;
    n.id = s.text(0);
    n.hostname = s.text(1);
    n.wireguard_key.bytes = s.template blob<32>(2);
    n.machine_key.bytes = s.template blob<32>(3);
    n.ipv4 = IpAddress::parse(s.text(4));
    n.ipv6 = IpAddress::parse(s.text(5));
    n.endpoints = split_endpoints(s.text(6));
    n.created_at = s.i64(7);
    n.version = static_cast<std::uint64_t>(s.i64(8));
    n.key_version = static_cast<std::uint64_t>(s.i64(9));
    n.tags = split_tags(s.text(10));
    n.ephemeral = s.i64(11) != 0;
    n.key_expires_at = s.i64(12);
    n.expired = s.i64(13) != 0;
    n.last_seen = s.i64(14);
    for (const auto& p : split_tags(s.text(15))) n.container_subnets.push_back(IpPrefix::parse(p));
    if (auto relay = s.text(16); !relay.empty()) n.relay = Endpoint::parse(relay);
    n.nat = static_cast<int>(s.i64(17));
    return n;
}

std::optional<NodeRecord> SqliteStore::node_where(const char* sql, const void* value, int size) {
    std::lock_guard lock(mutex_);
    Query s(statement(sql));
    if (size < 0) {
        s->bind(1, std::string(static_cast<const char*>(value)));
    } else {
        s->bind_blob(1, value, size);
    }
    if (!s->step()) return std::nullopt;
    return read_node(*s);
}

std::optional<NodeRecord> SqliteStore::node(const std::string& id) {
    return node_where("SELECT * FROM nodes WHERE id = ?", id.c_str(), -1);
}
std::optional<NodeRecord> SqliteStore::node_by_machine_key(const Key& key) {
    return node_where("SELECT * FROM nodes WHERE machine_key = ?", key.bytes.data(), 32);
}
std::optional<NodeRecord> SqliteStore::node_by_wireguard_key(const Key& key) {
    return node_where("SELECT * FROM nodes WHERE wg_key = ?", key.bytes.data(), 32);
}
std::optional<NodeRecord> SqliteStore::node_by_hostname(const std::string& hostname) {
    return node_where("SELECT * FROM nodes WHERE hostname = ?", hostname.c_str(), -1);
}

std::vector<NodeRecord> SqliteStore::nodes() {
    std::lock_guard lock(mutex_);
    Query s(statement("SELECT * FROM nodes ORDER BY id"));
    std::vector<NodeRecord> out;
    while (s->step()) out.push_back(read_node(*s));
    return out;
}

void SqliteStore::remove_node(const std::string& id, std::uint64_t version) {
    transaction([&] {
        {
            Query del(statement("DELETE FROM nodes WHERE id = ?"));
            del->bind(1, id).step();
        }
        Query tomb(statement("INSERT OR REPLACE INTO removed(id, version) VALUES (?, ?)"));
        tomb->bind(1, id).bind(2, static_cast<std::int64_t>(version)).step();
    });
}

std::vector<Removal> SqliteStore::removals() {
    std::lock_guard lock(mutex_);
    Query s(statement("SELECT id, version FROM removed ORDER BY version"));
    std::vector<Removal> out;
    while (s->step()) out.push_back({s->text(0), static_cast<std::uint64_t>(s->i64(1))});
    return out;
}

void SqliteStore::put_container_hold(const ContainerHold& hold) {
    std::lock_guard lock(mutex_);
    Query s(
        statement("INSERT OR REPLACE INTO container_holds(prefix, machine_key, hostname, until) "
                  "VALUES (?, ?, ?, ?)"));
    s->bind(1, hold.prefix.to_string()).bind_blob(2, hold.machine_key.bytes.data(), 32);
    s->bind(3, hold.hostname).bind(4, hold.until).step();
}

void SqliteStore::remove_container_hold(const IpPrefix& prefix) {
    std::lock_guard lock(mutex_);
    Query s(statement("DELETE FROM container_holds WHERE prefix = ?"));
    s->bind(1, prefix.to_string()).step();
}

std::vector<ContainerHold> SqliteStore::container_holds() {
    std::lock_guard lock(mutex_);
    Query s(statement("SELECT prefix, machine_key, hostname, until FROM container_holds"));
    std::vector<ContainerHold> out;
    while (s->step()) {
        ContainerHold h;
        try {
            h.prefix = IpPrefix::parse(s->text(0)).masked();
        } catch (const std::exception&) {
            throw Error("a stored container hold has a malformed prefix; the database is corrupt");
        }
        h.machine_key.bytes = s->template blob<32>(1);
        h.hostname = s->text(2);
        h.until = s->i64(3);
        out.push_back(std::move(h));
    }
    return out;
}

}  // namespace mesh::coord
