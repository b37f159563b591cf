#include "delib/fs.h"

#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "delib/error.h"

namespace delib {
namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    throw Error(Location{path, 0}, fmt::format("cannot remove: {}", std::strerror(errno)), kExitIo);
}

std::string read_text_file(const std::string& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw Error(Location{path, 0}, fmt::format("cannot open{}{}: {}", *what ? " " : "", what, std::strerror(errno)),
                kExitIo);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) throw Error(Location{path, 0}, fmt::format("cannot read{}{}", *what ? " " : "", what), kExitIo);
  return out;
}

}  // namespace delib
