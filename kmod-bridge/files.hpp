#pragma once
// Small file helpers for state directories (the agent's and the coordinator's): atomic writes
// with a given mode, whole-file reads, private directories.
#include <string>

namespace mesh::kb {

// Writes contents to path via a temporary file, fsync and rename, with the given mode.
void write_file_atomic(const std::string& path, const std::string& contents, unsigned mode);
// Reads a whole file; throws mesh::Error naming the path.
std::string read_file(const std::string& path);
void ensure_private_dir(const std::string& dir);  // mkdir -p, mode 0700

}  // namespace mesh::kb
