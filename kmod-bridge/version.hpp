#pragma once
// The project's version and the commit it was built from (`--version` of every binary). Defined
// in a file the build generates (scripts/version_info.cmake), linked as meshversion.
#include <string>

namespace mesh {

const char* version();  // CMake's project(VERSION), e.g. "0.1.0"
const char* commit();   // `git describe --always --dirty`, or "unknown"

// "PROGRAM 0.1.0 (commit 48b8ca2...)"
inline std::string version_line(const std::string& program) {
    return program + " " + version() + " (commit " + commit() + ")";
}

}  // namespace mesh
