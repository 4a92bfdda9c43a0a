#pragma once
// A failure that carries the status the caller should see; the gRPC layer maps it 1:1.
#include <string>

#include "kmod-bridge/error.hpp"

namespace mesh::coord {

enum class Code {
    invalid_argument,
    unauthenticated,
    permission_denied,
    not_found,
    resource_exhausted,
    aborted,
    unavailable,
    cancelled,          // a stream ended by the coordinator (replaced, removed)
    deadline_exceeded,  // a stream that did not say hello in time
    failed_precondition,
};

class StatusError : public Error {
  public:
    StatusError(Code code, const std::string& message) : Error(message), code_(code) {}
    Code code() const { return code_; }

  private:
    Code code_;
};

}  // namespace mesh::coord
