#pragma once
// One exception type for the whole project's "this input or this operation is wrong" failures.
// Parsers of untrusted bytes throw it (never anything else), so callers and fuzz targets can
// tell a rejected input from a bug.
#include <stdexcept>
#include <string>

namespace mesh {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace mesh
