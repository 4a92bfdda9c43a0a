// The UAPI driver and the wireguard-go launcher against stand-ins, without privileges: a fake
// UAPI server on a unix socket in a temporary directory, and scripts in place of wireguard-go.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <poll.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/uapi_driver.hpp"
#include "kmod-bridge/wireguard_go.hpp"

using namespace mesh::kb;
using namespace std::chrono_literals;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "kbtest.XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// Serves each connection on DIR/IF.sock: reads one request up to its blank line, records it,
// and answers with `reply` (or nothing at all when silent).
class FakeUapi {
  public:
    FakeUapi(const std::filesystem::path& socket, std::string reply, bool silent = false)
        : reply_(std::move(reply)), silent_(silent) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, socket.c_str());
        // No REQUIRE: this may run on a helper thread, where Catch must not be called.
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 4) != 0) {
            throw std::runtime_error("fake UAPI server cannot listen on " + socket.string());
        }
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeUapi() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    int connections() const { return connections_; }
    std::string last_request() const { return last_request_; }

  private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) != 1) continue;
            int c = ::accept(fd_, nullptr, nullptr);
            ++connections_;
            std::string request;
            char buf[4096];
            while (request.find("\n\n") == std::string::npos) {
                auto n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                request.append(buf, static_cast<std::size_t>(n));
            }
            last_request_ = request;
            if (silent_) {
                while (!stop_) std::this_thread::sleep_for(10ms);
            } else {
                [[maybe_unused]] auto n = ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
            }
            ::close(c);
        }
    }

    int fd_ = -1;
    std::string reply_;
    bool silent_;
    std::atomic<bool> stop_ = false;
    std::atomic<int> connections_ = 0;
    std::string last_request_;
    std::thread thread_;
};

std::string write_script(const std::filesystem::path& dir, const std::string& body) {
    auto path = dir / "fake-wireguard-go";
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path.string();
}

}  // namespace

TEST_CASE("UapiDriver reads a device through the socket") {
    TempDir dir;
    FakeUapi fake(dir.path / "wgx.sock", "listen_port=51820\nerrno=0\n\n");
    UapiDriver driver("wgx", dir.path.string());
    CHECK(driver.get().listen_port == 51820);
    CHECK(fake.last_request() == "get=1\n\n");
    CHECK(driver.name() == "uapi");
    CHECK(driver.interface_name() == "wgx");
}

TEST_CASE("UapiDriver sends a set and accepts errno=0") {
    TempDir dir;
    FakeUapi fake(dir.path / "wgx.sock", "errno=0\n\n");
    UapiDriver driver("wgx", dir.path.string());
    DeviceUpdate update;
    update.listen_port = 1234;
    driver.apply(update);
    CHECK(fake.last_request() == "set=1\nlisten_port=1234\n\n");

    SECTION("an empty update does not even connect") {
        int before = fake.connections();
        driver.apply(DeviceUpdate{});
        CHECK(fake.connections() == before);
    }
}

TEST_CASE("UapiDriver reports a refused set with the socket and the errno") {
    TempDir dir;
    FakeUapi fake(dir.path / "wgx.sock", "errno=-22\n\n");
    UapiDriver driver("wgx", dir.path.string());
    DeviceUpdate update;
    update.listen_port = 1;
    CHECK_THROWS_WITH(driver.apply(update), Catch::Contains("wgx.sock") &&
                                                Catch::Contains("errno=-22") &&
                                                Catch::Contains("Invalid argument"));
}

TEST_CASE("UapiDriver errors name the socket path and say what to do") {
    TempDir dir;
    UapiDriver driver("wgx", dir.path.string(), 300ms);
    CHECK_THROWS_WITH(driver.get(), Catch::Contains((dir.path / "wgx.sock").string()) &&
                                        Catch::Contains("is wireguard-go running"));

    SECTION("a device that never answers times out") {
        FakeUapi fake(dir.path / "wgx.sock", "", true);
        auto start = std::chrono::steady_clock::now();
        CHECK_THROWS_WITH(driver.get(), Catch::Contains("timed out"));
        CHECK(std::chrono::steady_clock::now() - start < 3s);
    }
    SECTION("a garbled reply") {
        FakeUapi fake(dir.path / "wgx.sock", "hello\n\n");
        CHECK_THROWS_WITH(driver.get(), Catch::Contains("wgx.sock") && Catch::Contains("line 1"));
    }
    SECTION("a reply cut short") {
        FakeUapi fake(dir.path / "wgx.sock", "listen_port=1\n");
        CHECK_THROWS_WITH(driver.get(), Catch::Contains("closed"));
    }
}

TEST_CASE("WireguardGo says what to install when the binary is missing") {
    WireguardGo::Options options;
    options.binary = "/nonexistent/wireguard-go";
    CHECK_THROWS_WITH(WireguardGo("wgx", options),
                      Catch::Contains("wireguard-go not found; install the wireguard-go package"));
    options.binary = "wireguard-go-that-does-not-exist";
    CHECK_THROWS_WITH(WireguardGo("wgx", options), Catch::Contains("install the wireguard-go"));
}

TEST_CASE("WireguardGo reports a child that exits before its socket appears") {
    TempDir dir;
    WireguardGo::Options options;
    options.binary = write_script(dir.path, "echo \"refusing $*\"; exit 3");
    options.socket_dir = dir.path.string();
    options.log_file = (dir.path / "log").string();
    CHECK_THROWS_WITH(WireguardGo("wgx", options),
                      Catch::Contains("exited with status 3") && Catch::Contains(options.log_file));
    std::ifstream log(options.log_file);
    std::string line;
    std::getline(log, line);
    CHECK(line == "refusing -f wgx");
}

TEST_CASE("WireguardGo gives up on a child that never opens its socket, and kills it") {
    TempDir dir;
    WireguardGo::Options options;
    // Ignores SIGTERM, so stopping it needs the SIGKILL.
    options.binary = write_script(dir.path, "trap '' TERM; while :; do sleep 0.05; done");
    options.socket_dir = dir.path.string();
    options.start_timeout = 200ms;
    options.stop_timeout = 200ms;
    auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(WireguardGo("wgx", options), Catch::Contains("did not open"));
    CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("WireguardGo waits for the socket, reports liveness and stops the child") {
    TempDir dir;
    WireguardGo::Options options;
    options.binary = write_script(dir.path, "exec sleep 60");
    options.socket_dir = dir.path.string();
    // The socket appears a little after the child starts, as wireguard-go's does.
    std::unique_ptr<FakeUapi> server;
    std::thread late([&] {
        std::this_thread::sleep_for(150ms);
        server = std::make_unique<FakeUapi>(dir.path / "wgx.sock", "errno=0\n\n");
    });
    auto start = std::chrono::steady_clock::now();
    WireguardGo wg("wgx", options);
    late.join();
    CHECK(std::chrono::steady_clock::now() - start >= 150ms);
    CHECK(wg.pid() > 0);
    CHECK(wg.alive());
    CHECK(wg.socket_path() == (dir.path / "wgx.sock").string());
    wg.stop();
    CHECK_FALSE(wg.alive());
    REQUIRE(wg.exit_status());
    CHECK(WIFSIGNALED(*wg.exit_status()));
    wg.stop();  // idempotent

    SECTION("a second instance for a served socket is refused before it starts") {
        FakeUapi fake(dir.path / "wgy.sock", "errno=0\n\n");
        CHECK_THROWS_WITH(WireguardGo("wgy", options), Catch::Contains("already serving"));
    }
}
