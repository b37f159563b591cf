#include "delib/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "delib/error.h"

namespace delib {
namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

[[noreturn]] void write_error(const std::string& path, const char* what, int err) {
  throw Error(Location{path, 0}, fmt::format("cannot write{}{}: {}", *what ? " " : "", what, std::strerror(err)),
              kExitIo);
}

// Writes all of `bytes` to fd (short writes and EINTR resumed); 0 or the errno of the failure.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(size_t(n));
  }
  return 0;
}
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

void write_file_atomic(const std::string& path, std::string_view bytes, const char* what) {
  struct stat st;
  const bool exists = ::lstat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    // A link, a device, a FIFO: no rename; truncate and write through it.
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) write_error(path, what, errno);
    int err = write_all(fd, bytes);
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err != 0) write_error(path, what, err);
    return;
  }
  // PATH.tmp in PATH's directory, so that the rename stays within one file system (atomic).
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) write_error(path, what, errno);
  int err = write_all(fd, bytes);
  if (err == 0 && exists && ::fchmod(fd, st.st_mode & 07777) != 0) err = errno;
  if (err == 0 && ::fsync(fd) != 0) err = errno;  // the bytes are on disk before the name is
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    write_error(path, what, err);
  }
}

}  // namespace delib
