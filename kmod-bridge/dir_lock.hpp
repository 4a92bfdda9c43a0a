#pragma once
// An exclusive lock (flock on DIR/NAME), held for the life of the object: so two daemons never
// share one state directory, and two agents never drive one interface. Lives here because
// kmod-bridge is the one library both daemons link.
#include <string>

namespace mesh {

class DirLock {
  public:
    // What the refusal says when another process holds the lock: "another PROGRAM (pid N) is
    // using WHAT; stop it first, or REMEDY". Defaults: the directory, another --state-dir.
    struct Conflict {
        std::string what;
        std::string remedy;
    };
    // Throws mesh::Error naming the holder's pid when another process holds the lock, and when
    // DIR/NAME is a symbolic link or not a regular file (it is never followed).
    DirLock(const std::string& dir, const std::string& name, const std::string& program,
            Conflict conflict = {});
    ~DirLock();
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;

  private:
    int fd_ = -1;
};

}  // namespace mesh
