#pragma once
// An exclusive lock on a state directory (flock on DIR/NAME), held for the life of the object,
// so two daemons never share one state directory. Lives here because kmod-bridge is the one
// library both daemons link.
#include <string>

namespace mesh {

class DirLock {
  public:
    // Throws mesh::Error naming the holder's pid when another process holds the lock.
    DirLock(const std::string& dir, const std::string& name, const std::string& program);
    ~DirLock();
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;

  private:
    int fd_ = -1;
};

}  // namespace mesh
