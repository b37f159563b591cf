// delib/fs.h: write_file_atomic, the one way the library and the tools write a whole file.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "delib/error.h"
#include "delib/fs.h"

using namespace delib;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = "/tmp/delib-fs-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()));
    path = tmpl;
  }
  ~TempDir() { remove_tree(path); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// The Error that `f` throws: its exit code, message and location.
template <class F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no Error thrown");
  return Error("unreachable");
}

}  // namespace

TEST_CASE("write_file_atomic writes exactly the bytes and leaves no temporary file") {
  TempDir d;
  const std::string p = d.file("out.json");
  const std::string bytes = std::string("{\"a\":1}\n") + '\0' + "binary\xff";
  write_file_atomic(p, bytes, "out");
  CHECK(read_text_file(p, "") == bytes);
  CHECK_FALSE(exists(p + ".tmp"));
  write_file_atomic(d.file("empty"), "", "");
  CHECK(read_text_file(d.file("empty"), "").empty());
}

TEST_CASE("write_file_atomic replaces an existing file whole and keeps its permission bits") {
  TempDir d;
  const std::string p = d.file("latest");
  write_file_atomic(p, std::string(10000, 'x'), "latest");
  REQUIRE(::chmod(p.c_str(), 0640) == 0);
  write_file_atomic(p, "short\n", "latest");
  CHECK(read_text_file(p, "") == "short\n");  // not "short\n" followed by the old tail
  struct stat st;
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK_FALSE(exists(p + ".tmp"));
}

TEST_CASE("write_file_atomic into a missing directory is an I/O error naming the path and what") {
  TempDir d;
  const std::string p = d.file("no/such/dir/config.json");
  Error e = error_of([&] { write_file_atomic(p, "{}", "config.json"); });
  CHECK(e.exit_code() == kExitIo);
  CHECK(e.where().file == p);
  CHECK(std::string(e.what()).find("cannot write config.json: ") == 0);
  CHECK(std::string(e.what()).find("No such file or directory") != std::string::npos);
  CHECK_FALSE(exists(d.file("no")));
}

TEST_CASE("a failed write_file_atomic leaves the old file as it was") {
  TempDir d;
  const std::string p = d.file("state.json");
  write_file_atomic(p, "old\n", "");
  // PATH.tmp cannot be created as a file (a directory is there): the write fails before the
  // rename, and PATH keeps its old bytes.
  REQUIRE(::mkdir((p + ".tmp").c_str(), 0755) == 0);
  REQUIRE(::mkdir((p + ".tmp/x").c_str(), 0755) == 0);
  Error e = error_of([&] { write_file_atomic(p, "new\n", "--json"); });
  CHECK(e.exit_code() == kExitIo);
  CHECK(e.where().file == p);
  CHECK(std::string(e.what()).find("cannot write --json: ") == 0);
  CHECK(read_text_file(p, "") == "old\n");
}

TEST_CASE("write_file_atomic writes through a symlink and keeps the link") {
  TempDir d;
  const std::string target = d.file("target.txt"), link = d.file("link.txt");
  write_file_atomic(target, "old old old\n", "");
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  write_file_atomic(link, "new\n", "");
  struct stat st;
  REQUIRE(::lstat(link.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(read_text_file(target, "") == "new\n");
}

TEST_CASE("write_file_atomic writes a device in place and reports a failed write") {
  struct stat st;
  REQUIRE(::stat("/dev/full", &st) == 0);  // Linux: every write fails with ENOSPC
  REQUIRE(S_ISCHR(st.st_mode));
  Error e = error_of([&] { write_file_atomic("/dev/full", "{}\n", "--stats"); });
  CHECK(e.exit_code() == kExitIo);
  CHECK(e.where().file == "/dev/full");
  CHECK(std::string(e.what()) == "cannot write --stats: No space left on device");
  CHECK_FALSE(exists("/dev/full.tmp"));
  write_file_atomic("/dev/null", "discarded", "");  // a device that takes the bytes
  REQUIRE(::stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK_FALSE(exists("/dev/null.tmp"));
}
