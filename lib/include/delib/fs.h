// File-system helpers shared by the areas that write directories (checkpoints, model saves).
#pragma once
#include <string>
#include <string_view>

namespace delib {

// rm -rf PATH with POSIX calls (nftw); a missing PATH is not an error. Throws Error(kExitIo).
// Use this instead of std::filesystem::remove_all in anything linked with LibTorch:
// libtorch.so exports its own copy of std::filesystem, and its remove_all crashes when called
// from a torch binary on a non-empty directory.
void remove_tree(const std::string& path);

// The whole file at PATH as bytes. `what` names it in the error (e.g. "--rubric", or "" for
// none): Error(Location{PATH, 0}, kExitIo) "cannot open --rubric: reason".
std::string read_text_file(const std::string& path, const char* what);

// Writes `bytes` as the whole file at PATH, all or nothing: into PATH.tmp in the same
// directory, fsync, then rename over PATH, so a crash or a full disk leaves the old file (or
// none) and a stray PATH.tmp, never a half-written PATH. An existing PATH keeps its permission
// bits. A PATH that is a symlink or a non-regular file (/dev/stdout, a FIFO) is written in
// place, truncated first, as before this helper: a rename would replace the link, not what it
// points to. `what` names the file in the error (e.g. "--report", "config.json", or "" for none):
// Error(Location{PATH, 0}, kExitIo) "cannot write --report: reason".
// REQUIRES: PATH's directory exists (a missing one is that error, not created).
void write_file_atomic(const std::string& path, std::string_view bytes, const char* what);

}  // namespace delib
