#pragma once
// The little POSIX plumbing the UAPI driver and the wireguard-go launcher share: an owned file
// descriptor and a unix stream connection whose every send and receive has a timeout.
#include <chrono>
#include <string>
#include <utility>

namespace mesh::kb {

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd();

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

// Connects to the unix stream socket at path with SO_SNDTIMEO/SO_RCVTIMEO set to timeout (the
// connect itself is bounded by the send timeout). On failure returns an empty UniqueFd and the
// errno in *error, so a caller polling for readiness need not catch exceptions.
UniqueFd connect_unix(const std::string& path, std::chrono::milliseconds timeout, int* error);

}  // namespace mesh::kb
