// Unit tests for jsonl-cat's library half (delib/filter.h): --select's field list and
// selection, and run_cat's filters in their documented order. The CLI cases in
// tests/cli/jsonl-cat/ check the tool's text output and exit codes.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "delib/filter.h"
#include "delib/records.h"

using namespace delib;
namespace fs = std::filesystem;

namespace {

fs::path tmpdir() {
  const char* base = std::getenv("DELIB_TMP");
  fs::path p = fs::path(base ? base : "/tmp") / ("cat-" + std::to_string(getpid()));
  fs::create_directories(p);
  return p;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream f(p);
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

// `o` reading `lines` from a file and writing plain JSONL to another.
CatOptions with_files(const std::vector<std::string>& lines, CatOptions o) {
  fs::path d = tmpdir();
  {
    std::ofstream in(d / "in.jsonl");
    for (const auto& l : lines) in << l << "\n";
  }
  o.inputs = {(d / "in.jsonl").string()};
  o.output = (d / "out.jsonl").string();
  o.write.compression = Compression::kPlain;
  return o;
}

// run_cat over `lines` with `o`; the output lines.
std::vector<std::string> cat(const std::vector<std::string>& lines, const CatOptions& o) {
  CatOptions f = with_files(lines, o);
  REQUIRE(run_cat(f) == kExitOk);
  return lines_of(f.output);
}

}  // namespace

TEST_CASE("parse_field_list splits on commas and drops empty entries") {
  CHECK(parse_field_list("a,b.c") == std::vector<std::string>{"a", "b.c"});
  CHECK(parse_field_list(",a,,b,") == std::vector<std::string>{"a", "b"});
  CHECK(parse_field_list("").empty());
  CHECK(parse_field_list("judge.score") == std::vector<std::string>{"judge.score"});
}

TEST_CASE("select_fields nests dotted paths, leaves absent ones out, keeps the location") {
  Record r = Record::parse(R"({"id":"x","judge":{"score":7,"why":"ok"},"messages":[{"role":"user"}],"n":1})",
                           {"f.jsonl", 3});
  Record s = select_fields(r, {"judge.score", "id", "missing", "judge.why", "messages.0.role"});
  CHECK(s.to_json() == R"({"judge":{"score":7,"why":"ok"},"id":"x","messages":{"0":{"role":"user"}}})");
  CHECK(s.where().file == "f.jsonl");
  CHECK(s.where().line == 3);
  CHECK(select_fields(r, {}).to_json() == "{}");
  // A whole object and then a path into it: the path's value is set again, in place.
  CHECK(select_fields(r, {"judge", "judge.score", "n"}).to_json() == R"({"judge":{"score":7,"why":"ok"},"n":1})");
}

TEST_CASE("run_cat: shard, where, dedupe, sample, head, then select") {
  std::vector<std::string> in;
  for (int i = 0; i < 40; ++i)
    in.push_back(R"({"id":"r)" + std::to_string(i) + R"(","k":)" + std::to_string(i % 4) + R"(,"v":)" +
                 std::to_string(i) + "}");
  CatOptions o;
  CHECK(cat(in, o) == in);  // no filter: byte for byte

  o.where = "v >= 10";
  o.dedupe = "k";
  CHECK(cat(in, o) == std::vector<std::string>{in[10], in[11], in[12], in[13]});
  o.head = 2;
  o.select = {"id"};
  CHECK(cat(in, o) == std::vector<std::string>{R"({"id":"r10"})", R"({"id":"r11"})"});

  // Reservoir sampling keeps exactly N, in input order, the same for the same seed.
  CatOptions s;
  s.sample = 5;
  s.seed = 3;
  auto a = cat(in, s), b = cat(in, s);
  CHECK(a.size() == 5);
  CHECK(a == b);
  CHECK(std::is_sorted(a.begin(), a.end(), [&](const std::string& x, const std::string& y) {
    return std::find(in.begin(), in.end(), x) < std::find(in.begin(), in.end(), y);
  }));
  // A fraction keeps each record by a hash of the seed and its id: a subset, stable.
  s.sample = 0.5;
  auto f = cat(in, s);
  CHECK(f == cat(in, s));
  CHECK(f.size() > 5);
  CHECK(f.size() < 35);

  // The shard is applied first: the shards partition the input.
  size_t total = 0;
  for (int k = 0; k < 3; ++k) {
    CatOptions sh;
    sh.read.shard = Shard{k, 3};
    total += cat(in, sh).size();
  }
  CHECK(total == in.size());

  CatOptions bad;
  bad.where = "v >";
  try {
    run_cat(with_files(in, bad));
    FAIL("a bad --where expression ran");
  } catch (const Error& e) {
    CHECK(e.exit_code() == kExitUsage);
  }
}
