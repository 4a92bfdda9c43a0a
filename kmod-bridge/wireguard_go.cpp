#include "kmod-bridge/wireguard_go.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>

#include "kmod-bridge/capabilities.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/unix_socket.hpp"

extern char** environ;

namespace mesh::kb {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string errno_text(int err) {
    return std::generic_category().message(err);
}

// The child's environment: ours, minus the variables that would make wireguard-go adopt file
// descriptors or a log level we did not choose.
std::vector<std::string> child_environment(const std::string& log_level) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view var(*e);
        if (var.starts_with("LOG_LEVEL=") || var.starts_with("WG_TUN_FD=") ||
            var.starts_with("WG_UAPI_FD=") || var.starts_with("WG_PROCESS_FOREGROUND=")) {
            continue;
        }
        env.emplace_back(var);
    }
    if (!log_level.empty()) env.push_back("LOG_LEVEL=" + log_level);
    return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Runs in the forked child: only async-signal-safe calls until exec. Reports exec's errno
// through report_fd (close-on-exec, so a successful exec closes it with nothing written).
[[noreturn]] void exec_child(const char* path, char** argv, char** envp, int log_fd,
                             int report_fd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    if (log_fd >= 0) {
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
    }
    execve(path, argv, envp);
    int err = errno;
    [[maybe_unused]] auto n = write(report_fd, &err, sizeof err);
    _exit(127);
}

}  // namespace

std::optional<std::string> find_executable(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        if (access(name.c_str(), X_OK) == 0) return name;
        return std::nullopt;
    }
    const char* env = std::getenv("PATH");
    std::string_view path = env ? env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin";
    while (!path.empty()) {
        auto colon = path.find(':');
        auto dir = path.substr(0, colon);
        std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
        if (colon == std::string_view::npos) break;
        path.remove_prefix(colon + 1);
    }
    return std::nullopt;
}

WireguardGo::WireguardGo(std::string interface) : WireguardGo(std::move(interface), Options{}) {}

WireguardGo::WireguardGo(std::string interface, Options options)
    : interface_(std::move(interface)),
      options_(std::move(options)),
      socket_path_(options_.socket_dir + "/" + interface_ + ".sock") {
    if (interface_.empty() || interface_.size() > 15 || interface_.find('/') != std::string::npos) {
        throw Error("'" + interface_ + "' is not a valid interface name (1-15 characters, no '/')");
    }
    auto binary = find_executable(options_.binary);
    if (!binary) {
        throw Error(options_.binary + " not found; install the wireguard-go package");
    }
    int err = 0;
    if (connect_unix(socket_path_, std::chrono::milliseconds(100), &err)) {
        throw Error("a WireGuard device is already serving " + socket_path_ +
                    "; stop it or choose another interface name than " + interface_);
    }
    spawn(*binary);
    wait_until_ready();
}

WireguardGo::~WireguardGo() {
    stop();
}

void WireguardGo::spawn(const std::string& binary_path) {
    std::vector<std::string> args{binary_path, "-f", interface_};
    auto argv = pointers(args);
    auto env = child_environment(options_.log_level);
    auto envp = pointers(env);

    UniqueFd log;
    if (!options_.log_file.empty()) {
        log = UniqueFd(
            ::open(options_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
        if (!log) {
            throw Error("cannot open the wireguard-go log " + options_.log_file + ": " +
                        errno_text(errno));
        }
    }
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) throw Error("pipe2: " + errno_text(errno));
    UniqueFd report_read(report[0]);
    UniqueFd report_write(report[1]);

    pid_t pid = ::fork();
    if (pid < 0) throw Error("cannot fork to start wireguard-go: " + errno_text(errno));
    if (pid == 0) exec_child(binary_path.c_str(), argv.data(), envp.data(), log.get(), report[1]);
    pid_ = pid;
    report_write = UniqueFd();

    int exec_errno = 0;
    ssize_t n;
    do {
        n = ::read(report_read.get(), &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    if (n == sizeof exec_errno) {
        stop();
        throw Error("cannot execute " + binary_path + ": " + errno_text(exec_errno) +
                    "; install the wireguard-go package");
    }
}

void WireguardGo::wait_until_ready() {
    const auto deadline = Clock::now() + options_.start_timeout;
    const std::string log_hint =
        options_.log_file.empty() ? "" : " (its log is " + options_.log_file + ")";
    while (true) {
        if (!alive()) {
            // It inherits this process's capabilities (ambient ones too): name a missing one.
            const std::string needs =
                has_effective_capability(CAP_NET_ADMIN)
                    ? "; it needs root (CAP_NET_ADMIN), /dev/net/tun and a free interface name"
                    : "; this process lacks CAP_NET_ADMIN, which wireguard-go needs for its TUN "
                      "device (a systemd unit grants it with CapabilityBoundingSet= and "
                      "AmbientCapabilities=)";
            throw Error("wireguard-go for " + interface_ + " " + describe_exit() +
                        " before its UAPI socket appeared" + log_hint + needs);
        }
        int err = 0;
        if (connect_unix(socket_path_, std::chrono::milliseconds(100), &err)) return;
        if (Clock::now() > deadline) {
            stop();
            throw Error("wireguard-go for " + interface_ + " did not open " + socket_path_ +
                        " within " + std::to_string(options_.start_timeout.count()) + " ms" +
                        log_hint + "; last connect error: " + errno_text(err));
        }
        std::this_thread::sleep_for(kPollInterval);
    }
}

bool WireguardGo::alive() {
    if (pid_ <= 0 || status_) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    // r < 0 (ECHILD) means someone else reaped it; it is gone all the same.
    status_ = r == pid_ ? status : -1;
    return false;
}

void WireguardGo::stop() noexcept {
    if (!alive()) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + options_.stop_timeout;
    while (Clock::now() < deadline) {
        std::this_thread::sleep_for(kPollInterval);
        if (!alive()) return;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    status_ = r == pid_ ? status : -1;
}

std::string WireguardGo::describe_exit() const {
    if (!status_ || *status_ == -1) return "exited";
    if (WIFEXITED(*status_)) return "exited with status " + std::to_string(WEXITSTATUS(*status_));
    if (WIFSIGNALED(*status_)) {
        return std::string("was killed by signal ") + strsignal(WTERMSIG(*status_));
    }
    return "stopped";
}

}  // namespace mesh::kb
