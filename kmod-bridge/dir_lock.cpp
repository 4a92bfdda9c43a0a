#include "kmod-bridge/dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kmod-bridge/error.hpp"

namespace mesh {

DirLock::DirLock(const std::string& dir, const std::string& name, const std::string& program,
                 Conflict conflict) {
    const std::string path = dir + "/" + name;
    // O_NOFOLLOW: a symbolic link planted in place of the lock must not make us truncate and
    // write whatever it points at.
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd_ < 0) {
        int err = errno;
        throw Error("cannot open " + path + ": " + std::strerror(err) +
                    (err == ELOOP ? " (it is a symbolic link; remove it)" : ""));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd_);
        fd_ = -1;
        throw Error(path + " is not a regular file; remove it");
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        char holder[32] = {};
        ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
        ::close(fd_);
        fd_ = -1;
        std::string pid = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        if (pid.find_first_not_of("0123456789") != std::string::npos) pid = "unknown";
        throw Error(
            "another " + program + " (pid " + pid + ") is using " +
            (conflict.what.empty() ? dir : conflict.what) + "; stop it first, or " +
            (conflict.remedy.empty() ? "give this one another --state-dir" : conflict.remedy));
    }
    std::string mine = std::to_string(::getpid()) + "\n";
    // The pid is only a hint for the message above; the lock is the flock.
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] auto written = ::pwrite(fd_, mine.data(), mine.size(), 0);
    }
}

DirLock::~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace mesh
