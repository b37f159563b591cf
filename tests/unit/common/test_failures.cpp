#include <catch2/catch.hpp>

#include "delib/error.h"
#include "delib/failures.h"

using delib::FailureBudget;

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
