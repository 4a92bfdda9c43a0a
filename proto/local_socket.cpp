#include "local_socket.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "kmod-bridge/error.hpp"

namespace mesh::local {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
    throw Error("cannot " + what + " " + path + ": " + std::strerror(err));
}

// Binds a listening unix socket at `path` that is 0600 from the moment anyone can reach it: it
// is bound inside a fresh 0700 directory beside `path`, chmod'ed there, then renamed into place.
kb::UniqueFd bind_private(const std::string& path) {
    sockaddr_un address{};
    if (path.empty() || path.size() >= sizeof address.sun_path) {
        throw Error("socket path '" + path + "' must be 1.." +
                    std::to_string(sizeof address.sun_path - 1) + " characters");
    }
    auto parent = std::filesystem::path(path).parent_path();
    if (parent.empty()) parent = ".";
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw Error("cannot create " + parent.string() + ": " + ec.message());
    std::string scratch = (parent / ".sock.XXXXXX").string();
    if (::mkdtemp(scratch.data()) == nullptr) fail("make a private directory in", parent, errno);
    const std::string inner = scratch + "/s";
    kb::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    int err = 0;
    if (!fd) {
        err = errno;
    } else {
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, inner.c_str(), inner.size() + 1);
        if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
            ::chmod(inner.c_str(), 0600) != 0 || ::listen(fd.get(), 64) != 0 ||
            ::rename(inner.c_str(), path.c_str()) != 0) {
            err = errno;
        }
    }
    ::unlink(inner.c_str());  // gone already when the rename worked
    ::rmdir(scratch.c_str());
    if (err != 0) fail("listen on", path, err);
    return fd;
}

}  // namespace

LocalSocketServer::LocalSocketServer(grpc::Server& server, std::string path)
    : server_(server), path_(std::move(path)) {
    listen_ = bind_private(path_);
    stop_ = kb::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_) fail("make an eventfd for", path_, errno);
    thread_ = std::thread([this] { run(); });
}

LocalSocketServer::~LocalSocketServer() {
    std::uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
}

void LocalSocketServer::run() {
    pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            spdlog::error("event=local_socket_failed path={} error=\"poll: {}\"", path_,
                          std::strerror(errno));
            return;
        }
        if (fds[1].revents != 0) return;
        if (fds[0].revents != 0) accept_one();
    }
}

void LocalSocketServer::accept_one() {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            spdlog::warn("event=local_accept_failed path={} error=\"{}\"", path_,
                         std::strerror(errno));
            ::usleep(10000);  // EMFILE and the like: do not spin
        }
        return;
    }
    ucred peer{};
    socklen_t size = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
        !local_peer_allowed(peer.uid, ::geteuid())) {
        spdlog::warn("event=local_peer_refused path={} uid={} pid={}", path_, peer.uid, peer.pid);
        ::close(fd);
        return;
    }
    grpc::AddInsecureChannelFromFd(&server_, fd);  // takes the descriptor
}

std::shared_ptr<grpc::Channel> local_channel(const std::string& path) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    return grpc::CreateCustomChannel("unix:" + path, grpc::InsecureChannelCredentials(), args);
}

}  // namespace mesh::local
