#pragma once
// The processes a load run drives and watches: a real mesh-coordinator (started in a state
// directory of its own, stopped, killed, restarted), and what /proc says of any process (RSS,
// CPU time, threads) and of this one (getrusage), so every number says who spent what.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mesh::load {

struct ProcStats {
    std::uint64_t rss_kib = 0;
    double cpu_seconds = 0;  // user + system
    int threads = 0;
};
ProcStats proc_stats(pid_t pid);
double own_cpu_seconds();

// A free TCP port on 127.0.0.1 (bound and released: a small race, fine for a bench).
int free_port();

class CoordinatorProcess {
  public:
    // `binary`: mesh-coordinator. The state directory is made (0700) if missing.
    CoordinatorProcess(std::string binary, std::string state_dir);
    ~CoordinatorProcess();  // stops it (SIGTERM, then SIGKILL)

    // Starts `serve` on 127.0.0.1:port and waits until its admin socket answers.
    void start(int port, const std::vector<std::string>& extra = {});
    void stop();       // SIGTERM, wait
    void kill_hard();  // SIGKILL, wait: as a crash
    pid_t pid() const { return pid_; }
    const std::string& address() const { return address_; }
    std::string fingerprint() const;
    // A reusable token with no use limit, through the admin socket.
    std::string create_token() const;
    // Every node the coordinator lists: node id -> IPv4 (through the admin socket).
    std::vector<std::pair<std::string, std::string>> nodes() const;
    std::uint64_t map_version() const;

  private:
    std::string binary_;
    std::string state_dir_;
    std::string address_;
    pid_t pid_ = -1;
};

// One etcd member (Debian's etcd-server) on 127.0.0.1, data in `dir`: the store coordinator
// replicas share (--replicas).
class EtcdProcess {
  public:
    explicit EtcdProcess(std::string dir);
    ~EtcdProcess();
    void start();  // waits until it answers (10 s at most)
    void stop();
    pid_t pid() const { return pid_; }
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

  private:
    std::string dir_;
    int client_port_ = 0, peer_port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace mesh::load
