#include "kmod-bridge/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kmod-bridge/error.hpp"

namespace mesh::kb {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
    throw Error("cannot " + what + " " + path + ": " + std::strerror(err));
}

std::string parent_of(const std::string& path) {
    auto parent = std::filesystem::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}

void write_all(int fd, const std::string& contents, const std::string& path) {
    size_t done = 0;
    while (done < contents.size()) {
        ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write", path, errno);
        done += static_cast<size_t>(n);
    }
}

}  // namespace

void sync_directory(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open the directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) fail("fsync the directory", dir, err);
}

void write_file_atomic(const std::string& path, const std::string& contents, unsigned mode) {
    const std::string tmp = path + ".tmp";
    // A leftover from a crash (or anything planted there) goes; unlink never follows a link.
    if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) fail("remove the stale", tmp, errno);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) fail("create", tmp, errno);
    try {
        if (::fchmod(fd, mode) != 0) fail("set the mode of", tmp, errno);
        write_all(fd, contents, tmp);
        if (::fsync(fd) != 0) fail("fsync", tmp, errno);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        fail("close", tmp, err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw Error("cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
    }
    sync_directory(parent_of(path));
}

void write_file_if_changed(const std::string& path, const std::string& contents, unsigned mode) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode &&
        static_cast<std::size_t>(st.st_size) == contents.size()) {
        try {
            if (read_file(path) == contents) return;
        } catch (const Error&) {
            // unreadable: write it anew
        }
    }
    write_file_atomic(path, contents, mode);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void check_private_dir(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) fail("inspect", dir, errno);
    if (!S_ISDIR(st.st_mode)) throw Error(dir + " is not a directory");
    if (st.st_uid != ::geteuid()) {
        throw Error(dir + " belongs to uid " + std::to_string(st.st_uid) +
                    ", not to this user (uid " + std::to_string(::geteuid()) +
                    "): another user could plant files there; chown it, or use another directory");
    }
    if ((st.st_mode & 022) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        throw Error(dir + " is writable by group or others (mode " + mode +
                    "): another user could plant files there; run chmod 700 on it, or use "
                    "another directory");
    }
}

void ensure_private_dir(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        std::error_code ec;
        std::filesystem::create_directories(parent_of(dir), ec);
        if (ec) throw Error("cannot create " + parent_of(dir) + ": " + ec.message());
        // 0700 from the start (mkdir only takes bits away under any umask).
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail("create", dir, errno);
    }
    check_private_dir(dir);
    if (::chmod(dir.c_str(), 0700) != 0) fail("set the mode of", dir, errno);
}

}  // namespace mesh::kb
