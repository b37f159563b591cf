// File-system helpers shared by the areas that write directories (checkpoints, model saves).
#pragma once
#include <string>

namespace delib {

// rm -rf PATH with POSIX calls (nftw); a missing PATH is not an error. Throws Error(kExitIo).
// Use this instead of std::filesystem::remove_all in anything linked with LibTorch:
// libtorch.so exports its own copy of std::filesystem, and its remove_all crashes when called
// from a torch binary on a non-empty directory.
void remove_tree(const std::string& path);

// The whole file at PATH as bytes. `what` names it in the error (e.g. "--rubric", or "" for
// none): Error(Location{PATH, 0}, kExitIo) "cannot open --rubric: reason".
std::string read_text_file(const std::string& path, const char* what);

}  // namespace delib
