// The state-file helpers against what a hostile or crashed file system leaves behind (security
// review, findings 11 and 15): planted links, foreign directories, stale temporaries.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "kmod-bridge/dir_lock.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"
#include "kmod-bridge/untrusted_text.hpp"

using namespace mesh::kb;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/mesh-files-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    return tmpl;
}

std::string contents(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("security 11: a link planted as the temporary file is not written through") {
    auto dir = temp_dir();
    const std::string victim = dir + "/victim";
    std::ofstream(victim) << "precious";
    std::filesystem::create_symlink(victim, dir + "/key.pem.tmp");
    write_file_atomic(dir + "/key.pem", "secret", 0600);
    CHECK(contents(victim) == "precious");
    CHECK(contents(dir + "/key.pem") == "secret");
    CHECK_FALSE(std::filesystem::exists(dir + "/key.pem.tmp"));
    struct stat st {};
    REQUIRE(::stat((dir + "/key.pem").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    std::filesystem::remove_all(dir);
}

TEST_CASE("security 11: a link planted as the lock is refused, its target untouched") {
    auto dir = temp_dir();
    const std::string victim = dir + "/victim";
    std::ofstream(victim) << "precious";
    std::filesystem::create_symlink(victim, dir + "/agent.lock");
    CHECK_THROWS_WITH(mesh::DirLock(dir, "agent.lock", "mesh-agent"),
                      Catch::Contains("symbolic link"));
    CHECK(contents(victim) == "precious");
    std::filesystem::remove_all(dir);
}

TEST_CASE("security 11: a state directory others can write to, or another user's, is refused") {
    auto dir = temp_dir();
    REQUIRE(::chmod(dir.c_str(), 0777) == 0);
    CHECK_THROWS_WITH(ensure_private_dir(dir), Catch::Contains("writable by group or others"));
    REQUIRE(::chmod(dir.c_str(), 0770) == 0);
    CHECK_THROWS_WITH(ensure_private_dir(dir), Catch::Contains("chmod 700"));
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    ensure_private_dir(dir);  // not writable by others: taken, and made 0700
    struct stat st {};
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    if (::geteuid() == 0) {  // as root, a directory that belongs to nobody
        REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
        CHECK_THROWS_WITH(ensure_private_dir(dir), Catch::Contains("belongs to uid 65534"));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("security 11: a new state directory is 0700 from the start, under any umask") {
    auto base = temp_dir();
    auto old = ::umask(0);
    ensure_private_dir(base + "/a/state");
    ::umask(old);
    struct stat st {};
    REQUIRE(::stat((base + "/a/state").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    std::filesystem::remove_all(base);
}

TEST_CASE("security 15: an unchanged file is not rewritten") {
    auto dir = temp_dir();
    const std::string path = dir + "/machine.key";
    write_file_atomic(path, "seed\n", 0600);
    struct stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);
    write_file_if_changed(path, "seed\n", 0600);
    struct stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);  // a rename would have made a new inode
    write_file_if_changed(path, "other\n", 0600);
    CHECK(contents(path) == "other\n");
    std::filesystem::remove_all(dir);
}

TEST_CASE("security 7: untrusted text cannot end a line, forge a field or escape the terminal") {
    CHECK(escape_untrusted("web-1") == "web-1");
    CHECK(escape_untrusted("a\nb") == "a\\x0ab");
    CHECK(escape_untrusted("x\" event=forged") == "x\\\" event=forged");
    CHECK(escape_untrusted("\x1b[31mred") == "\\x1b[31mred");
    CHECK(escape_untrusted("back\\slash") == "back\\\\slash");
    CHECK(escape_untrusted("caf\xc3\xa9") == "caf\\xc3\\xa9");
    CHECK(escape_untrusted(std::string(100, 'a'), 10) == std::string(10, 'a') + "...");
    CHECK(log_quote("a\rb") == "\"a\\x0db\"");
    std::string every;
    for (int c = 0; c < 256; ++c) every.push_back(static_cast<char>(c));
    for (unsigned char c : escape_untrusted(every, 256)) CHECK((c >= 0x20 && c < 0x7f));
}
