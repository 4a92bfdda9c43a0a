#pragma once
// Runs the userspace WireGuard implementation as a child process: `wireguard-go -f IFNAME`
// creates the TUN device and listens on <socket_dir>/IFNAME.sock, which the UapiDriver then
// talks to. The child lives as long as this object (or until stop()).
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace mesh::kb {

class WireguardGo {
  public:
    struct Options {
        std::string binary = "wireguard-go";  // a name searched in PATH, or a path
        // Where wireguard-go puts its socket. wireguard-go 0.0.20220316 always uses
        // /var/run/wireguard; this only says where to wait for it.
        std::string socket_dir = "/var/run/wireguard";
        std::string log_file;  // stdout and stderr appended here; empty: inherited
        // LOG_LEVEL for the child: "verbose", "error" or "silent"; empty: left unset.
        std::string log_level;
        std::chrono::milliseconds start_timeout = std::chrono::seconds(5);
        std::chrono::milliseconds stop_timeout = std::chrono::seconds(5);
    };

    // Starts wireguard-go and returns once its UAPI socket accepts a connection. Throws
    // mesh::Error when the binary is missing, exits early or is not ready in time (the child is
    // killed then).
    explicit WireguardGo(std::string interface);
    WireguardGo(std::string interface, Options options);
    WireguardGo(const WireguardGo&) = delete;
    WireguardGo& operator=(const WireguardGo&) = delete;
    ~WireguardGo();  // stop()

    pid_t pid() const { return pid_; }
    // Whether the child is still running (reaps it if it has exited).
    bool alive();
    // SIGTERM, then SIGKILL after stop_timeout; waits for the child. Idempotent, never throws.
    void stop() noexcept;
    // The raw waitpid status once the child has been reaped; -1 if another part of the
    // process reaped it first (SIGCHLD ignored, a stray waitpid(-1)).
    std::optional<int> exit_status() const { return status_; }
    const std::string& socket_path() const { return socket_path_; }
    const std::string& interface_name() const { return interface_; }

  private:
    void spawn(const std::string& binary_path);
    void wait_until_ready();
    std::string describe_exit() const;

    std::string interface_;
    Options options_;
    std::string socket_path_;
    pid_t pid_ = -1;
    std::optional<int> status_;
};

// The full path of an executable: name itself if it contains '/', else the first match in PATH.
std::optional<std::string> find_executable(const std::string& name);

}  // namespace mesh::kb
