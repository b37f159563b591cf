#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <tuple>

#include "delib/error.h"
#include "delib/failures.h"
#include "delib/records.h"  // install_signal_handlers, interrupted

using delib::FailureBudget;

namespace {

// What `f` writes to stderr (fd 2), read back from a temporary file.
std::string stderr_of(const std::function<void()>& f) {
  fflush(stderr);
  char path[] = "/tmp/delib-stderr-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  int saved = dup(2);
  dup2(fd, 2);
  try {
    f();
  } catch (...) {
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    unlink(path);
    throw;
  }
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string out;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fd);
  unlink(path);
  return out;
}

// The messages of a tool, told apart in the checks.
delib::FailureMessages messages() {
  delib::FailureMessages m;
  m.over = "OVER";
  m.all_failed = "ALL";
  m.within = "WITHIN";
  return m;
}

}  // namespace

TEST_CASE("a failure budget reads a count, a fraction or a percentage") {
  auto c = FailureBudget::parse("3");
  CHECK_FALSE(c.fraction);
  CHECK(c.limit == 3);
  CHECK(c.str() == "3");
  auto f = FailureBudget::parse("0.05");
  CHECK(f.fraction);
  CHECK(f.limit == Approx(0.05));
  CHECK(f.str() == "5%");
  auto p = FailureBudget::parse("5%");
  CHECK(p.fraction);
  CHECK(p.limit == Approx(0.05));
}

TEST_CASE("a bad failure budget is a usage error naming the flag") {
  for (const char* bad : {"", "x", "-1", "1.5", "150%", "%", "3 "}) {
    try {
      FailureBudget::parse(bad, "--max-failures");
      FAIL("accepted '" << bad << "'");
    } catch (const delib::Error& e) {
      CHECK(e.exit_code() == delib::kExitUsage);
      CHECK(std::string(e.what()).find("--max-failures") != std::string::npos);
    }
  }
}

TEST_CASE("the budget is exceeded above the limit and whenever nothing succeeded") {
  auto strict = FailureBudget::parse("0");
  CHECK_FALSE(strict.exceeded(0, 10));
  CHECK(strict.exceeded(1, 10));
  auto two = FailureBudget::parse("2");
  CHECK_FALSE(two.exceeded(2, 10));
  CHECK(two.exceeded(3, 10));
  CHECK(two.exceeded(2, 2));  // no record got a result
  auto frac = FailureBudget::parse("10%");
  CHECK_FALSE(frac.exceeded(1, 10));
  CHECK(frac.exceeded(2, 10));
  CHECK(frac.exceeded(5, 5));
  CHECK_FALSE(frac.exceeded(0, 0));  // nothing attempted: nothing failed
}

TEST_CASE("failure counts summarise per kind") {
  delib::FailureCounts c;
  CHECK(c.summary(10).empty());
  c.add("parse");
  c.add("backend", 2);
  CHECK(c.total() == 3);
  CHECK(c.summary(40) == "3 of 40 records failed (backend 2, parse 1)");
}

TEST_CASE("warn prints `tool: warning: message` on stderr with the tool's name") {
  const std::string before = delib::tool_name();
  delib::set_tool_name("unit-tool");
  CHECK(stderr_of([] { delib::warn("3 records skipped"); }) == "unit-tool: warning: 3 records skipped\n");
  delib::set_tool_name(before);
}

TEST_CASE("enforce_failure_budget: nothing when nothing failed") {
  auto budget = FailureBudget::parse("0");
  CHECK(stderr_of([&] { delib::enforce_failure_budget(0, 10, budget, messages()); }).empty());
  CHECK(stderr_of([&] { delib::enforce_failure_budget(0, 0, budget, messages()); }).empty());
}

TEST_CASE("enforce_failure_budget: within the budget warns the tool's message") {
  delib::set_tool_name("unit-tool");
  auto two = FailureBudget::parse("2");
  CHECK(stderr_of([&] { delib::enforce_failure_budget(2, 10, two, messages()); }) ==
        "unit-tool: warning: WITHIN\n");
  auto quiet = messages();
  quiet.within = "";  // a tool that reported its counts already
  CHECK(stderr_of([&] { delib::enforce_failure_budget(2, 10, two, quiet); }).empty());
}

TEST_CASE("enforce_failure_budget: over the budget is exit 4 with the tool's message, and no warning") {
  auto two = FailureBudget::parse("2");
  for (auto c : {std::tuple{3, 10, "OVER"}, std::tuple{2, 2, "ALL"}, std::tuple{3, 3, "ALL"}}) {
    const int failed = std::get<0>(c), attempted = std::get<1>(c);
    const std::string want = std::get<2>(c);
    std::string err = stderr_of([&] {
      try {
        delib::enforce_failure_budget(failed, attempted, two, messages());
        FAIL("no Error for " << failed << " of " << attempted);
      } catch (const delib::Error& e) {
        CHECK(e.exit_code() == delib::kExitBackend);
        CHECK(std::string(e.what()) == want);
      }
    });
    CHECK(err.empty());
  }
}

TEST_CASE("enforce_failure_budget: an interrupted run passes unless the tool says otherwise") {
  // interrupted() cannot be reset: each case runs in a child process that receives SIGINT.
  auto child = [](bool pass_when_interrupted) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 2);
      delib::install_signal_handlers();
      raise(SIGINT);
      auto m = messages();
      m.pass_when_interrupted = pass_when_interrupted;
      int code = 0;
      try {
        delib::enforce_failure_budget(5, 10, FailureBudget::parse("0"), m);
      } catch (const delib::Error& e) {
        code = e.exit_code();
      }
      _exit(delib::interrupted() == SIGINT ? code : 99);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
  };
  CHECK(child(true) == 0);
  CHECK(child(false) == delib::kExitBackend);
}
