#pragma once
// Tells when this host's network changed: an rtnetlink socket subscribed to link, address and
// route events. Events about the mesh interface itself (our own addresses and routes) are not
// changes of the host's network and are ignored.
#include <string>

namespace mesh::agent {

class NetlinkMonitor {
  public:
    explicit NetlinkMonitor(std::string ignored_interface);  // throws mesh::Error
    ~NetlinkMonitor();
    NetlinkMonitor(const NetlinkMonitor&) = delete;
    NetlinkMonitor& operator=(const NetlinkMonitor&) = delete;

    int fd() const { return fd_; }
    // Reads every queued event; true when one of them is a change of the host's network (also
    // when the socket overflowed, since events were lost).
    bool drain();

  private:
    int fd_ = -1;
    std::string ignored_;
};

}  // namespace mesh::agent
