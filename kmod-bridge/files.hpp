#pragma once
// Small file helpers for state directories (the agent's and the coordinator's): atomic, durable
// writes with a given mode, whole-file reads, and private directories that are checked before
// they are trusted.
#include <string>

namespace mesh::kb {

// Writes contents to path through PATH.tmp (created afresh with O_EXCL|O_NOFOLLOW, so a planted
// file or link is never written through), fsync, rename, and an fsync of the directory, so the
// new file survives a crash once this returns. Every step's failure throws mesh::Error.
void write_file_atomic(const std::string& path, const std::string& contents, unsigned mode);
// The same, but leaves the file alone (no write at all) when it already holds `contents`.
void write_file_if_changed(const std::string& path, const std::string& contents, unsigned mode);
// Reads a whole file; throws mesh::Error naming the path.
std::string read_file(const std::string& path);
// mkdir -p, then the checks of check_private_dir, then mode 0700.
void ensure_private_dir(const std::string& dir);
// Refuses (mesh::Error, with what to do) a directory that is not one, is not owned by the
// effective user, or is writable by group or others: whoever else could write there could plant
// links or files that this process would then trust (as sshd's StrictModes refuses).
void check_private_dir(const std::string& dir);
// fsync of a directory, so renames and creations in it are durable.
void sync_directory(const std::string& dir);

}  // namespace mesh::kb
