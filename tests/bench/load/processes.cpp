#include "tests/bench/load/processes.hpp"

#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "kmod-bridge/files.hpp"
#include "mesh/v1/admin.grpc.pb.h"
#include "tls_pin.hpp"

namespace mesh::load {

ProcStats proc_stats(pid_t pid) {
    ProcStats s;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stoull(line.substr(6));
        if (line.rfind("Threads:", 0) == 0) s.threads = std::stoi(line.substr(8));
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    auto rest = text.substr(text.rfind(')') + 2);
    std::istringstream in(rest);
    std::string field;
    std::vector<std::string> fields;
    while (in >> field) fields.push_back(field);
    if (fields.size() > 13) {
        const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        s.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
    }
    return s;
}

double own_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return secs(u.ru_utime) + secs(u.ru_stime);
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
        ::close(fd);
        throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

CoordinatorProcess::CoordinatorProcess(std::string binary, std::string state_dir)
    : binary_(std::move(binary)), state_dir_(std::move(state_dir)) {
    kb::ensure_private_dir(state_dir_);
}

CoordinatorProcess::~CoordinatorProcess() {
    stop();
}

void CoordinatorProcess::start(int port, const std::vector<std::string>& extra) {
    address_ = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args = {binary_,       "--state-dir", state_dir_,      "serve",
                                     "--listen",    address_,      "--stun-listen", "off",
                                     "--log-level", "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = state_dir_ + "/../coordinator.log";
    std::fflush(stdout);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the generator, even if it crashes
        FILE* out = std::freopen(log.c_str(), "a", stdout);
        if (out) ::dup2(::fileno(out), 2);
        ::execv(argv[0], argv.data());
        _exit(127);
    }
    const std::string socket = state_dir_ + "/admin.sock";
    for (int i = 0; i < 400; ++i) {
        struct stat st {};
        if (::stat(socket.c_str(), &st) == 0) {
            try {
                map_version();  // answers: serving
                return;
            } catch (const std::exception&) {
            }
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("mesh-coordinator exited at start (see " + log + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("mesh-coordinator did not start within 10 s (see " + log + ")");
}

void CoordinatorProcess::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill_hard();
}

void CoordinatorProcess::kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string CoordinatorProcess::fingerprint() const {
    return tls::fingerprint_of_pem(kb::read_file(state_dir_ + "/tls/cert.pem"));
}

namespace {

std::unique_ptr<v1::Admin::Stub> admin(const std::string& state_dir) {
    return v1::Admin::NewStub(grpc::CreateChannel("unix:" + state_dir + "/admin.sock",
                                                  grpc::InsecureChannelCredentials()));
}

grpc::ClientContext& deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
}

}  // namespace

std::string CoordinatorProcess::create_token() const {
    v1::CreateTokenRequest request;
    request.set_reusable(true);
    request.set_ttl_seconds(86400);
    v1::CreateTokenResponse response;
    grpc::ClientContext ctx;
    auto s = admin(state_dir_)->CreateToken(&deadline(ctx), request, &response);
    if (!s.ok()) throw std::runtime_error("token create: " + s.error_message());
    return response.token();
}

std::vector<std::pair<std::string, std::string>> CoordinatorProcess::nodes() const {
    v1::ListNodesResponse response;
    grpc::ClientContext ctx;
    auto s = admin(state_dir_)->ListNodes(&deadline(ctx), {}, &response);
    if (!s.ok()) throw std::runtime_error("nodes list: " + s.error_message());
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& n : response.nodes()) {
        out.emplace_back(n.node_id(), n.addresses_size() ? n.addresses(0) : "");
    }
    return out;
}

std::uint64_t CoordinatorProcess::map_version() const {
    v1::ListNodesResponse response;
    grpc::ClientContext ctx;
    // 10,000 nodes listed by a replica that shares 2 cores with a storm can take seconds.
    auto s = admin(state_dir_)->ListNodes(&deadline(ctx), {}, &response);
    if (!s.ok()) throw std::runtime_error("nodes list: " + s.error_message());
    return response.version();
}

EtcdProcess::EtcdProcess(std::string dir) : dir_(std::move(dir)) {
    kb::ensure_private_dir(dir_);
    client_port_ = free_port();
    peer_port_ = free_port();
}

EtcdProcess::~EtcdProcess() {
    stop();
}

void EtcdProcess::start() {
    const std::string client = "http://" + endpoint();
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {
        "etcd", "--name", "bench", "--data-dir", dir_ + "/data", "--listen-client-urls", client,
        "--advertise-client-urls", client, "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer, "--initial-cluster", "bench=" + peer,
        // The replicas' ack summaries are rewritten often in a storm.
        "--auto-compaction-mode", "revision", "--auto-compaction-retention", "100000",
        "--quota-backend-bytes", "8589934592"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = dir_ + "/etcd.log";
    std::fflush(stdout);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE* out = std::freopen(log.c_str(), "a", stdout);
        if (out) ::dup2(::fileno(out), 2);
        ::execvp(argv[0], argv.data());
        _exit(127);
    }
    for (int i = 0; i < 400; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(client_port_));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        if (up) {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));  // its first election
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("etcd did not start within 10 s (see " + log + ")");
}

void EtcdProcess::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

}  // namespace mesh::load
