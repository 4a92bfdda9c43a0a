#include "kmod-bridge/uapi_driver.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <system_error>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/uapi_codec.hpp"
#include "kmod-bridge/unix_socket.hpp"

namespace mesh::kb {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int err) {
    return std::generic_category().message(err);
}

// What went wrong and what to do about it, for the errors a connect really produces.
std::string connect_advice(int err, const std::string& interface) {
    switch (err) {
        case ENOENT:
            return "no such socket; is wireguard-go running for interface " + interface + "?";
        case ECONNREFUSED:
            return "connection refused; the socket is stale (wireguard-go for " + interface +
                   " has exited)";
        case EACCES:
        case EPERM:
            return "permission denied; the UAPI socket is only open to root";
        case EAGAIN:
        case ETIMEDOUT:
            return "timed out connecting; wireguard-go is not accepting connections";
        default:
            return errno_text(err);
    }
}

}  // namespace

UapiDriver::UapiDriver(std::string interface, std::string socket_dir,
                       std::chrono::milliseconds timeout)
    : interface_(std::move(interface)),
      socket_path_(std::move(socket_dir) + "/" + interface_ + ".sock"),
      timeout_(timeout) {
    if (interface_.empty() || interface_.find('/') != std::string::npos) {
        throw Error("'" + interface_ + "' is not a usable interface name");
    }
}

DeviceState UapiDriver::get() {
    auto reply = transact(kUapiGetRequest, "get");
    try {
        return decode_get(reply);
    } catch (const Error& e) {
        throw Error("UAPI get on " + socket_path_ + ": " + e.what());
    }
}

void UapiDriver::apply(const DeviceUpdate& update) {
    if (update.empty()) return;
    auto reply = transact(encode_set(update), "set");
    int err = 0;
    try {
        err = decode_errno(reply);
    } catch (const Error& e) {
        throw Error("UAPI set on " + socket_path_ + ": " + e.what());
    }
    if (err != 0) {
        throw Error("UAPI set on " + socket_path_ + " was refused with " + describe_errno(err) +
                    "; the device may be partly updated, so read it back with get()");
    }
}

std::string UapiDriver::transact(std::string_view request, std::string_view operation) {
    const std::string context = "UAPI " + std::string(operation) + " on " + socket_path_ + ": ";
    const auto deadline = Clock::now() + timeout_;
    int err = 0;
    UniqueFd fd = connect_unix(socket_path_, timeout_, &err);
    if (!fd) throw Error(context + connect_advice(err, interface_));

    std::size_t sent = 0;
    while (sent < request.size()) {
        // MSG_NOSIGNAL: a device that hangs up mid-request must not kill us with SIGPIPE.
        auto n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
        } else if (errno == EPIPE || errno == ECONNRESET) {
            break;  // it stopped reading, usually after refusing a line: its errno may be waiting
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            throw Error(context + "timed out sending the request");
        } else if (errno != EINTR) {
            throw Error(context + "send failed: " + errno_text(errno));
        }
        if (Clock::now() > deadline) throw Error(context + "timed out sending the request");
    }

    std::string reply;
    char buf[16384];
    while (true) {
        auto n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            throw Error(context + "timed out waiting for the reply");
        }
        if (n < 0) throw Error(context + "receive failed: " + errno_text(errno));
        if (n == 0) {
            throw Error(context + "connection closed after " + std::to_string(reply.size()) +
                        " bytes, before the reply was complete");
        }
        // The reply ends at its first blank line; the connection itself stays open.
        std::size_t from = reply.empty() ? 0 : reply.size() - 1;
        reply.append(buf, static_cast<std::size_t>(n));
        if (auto end = reply.find("\n\n", from); end != std::string::npos) {
            if (end + 2 != reply.size()) throw Error(context + "data after the end of the reply");
            return reply;
        }
        if (reply.size() > kUapiMaxReplyBytes) {
            throw Error(context + "reply exceeds " + std::to_string(kUapiMaxReplyBytes) + " bytes");
        }
        if (Clock::now() > deadline) throw Error(context + "timed out reading the reply");
    }
}

}  // namespace mesh::kb
