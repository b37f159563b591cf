// Unit tests of the keyed-job driver (delib/pipeline.h): resume targets, record intake with
// --on-error routing and one --rejects file, OrderedWriter, KeyedRun's chunks and failure
// routing.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "delib/pipeline.h"

using namespace delib;

namespace {

std::string tmp_path(const std::string& name) {
  const char* t = std::getenv("DELIB_TMP");
  std::string dir = t ? t : "/tmp";
  std::system(("mkdir -p " + dir).c_str());
  return dir + "/pipeline-unit-" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

Record rec(int i) { return Record::parse("{\"i\":" + std::to_string(i) + "}"); }

// The records of a plain or zstd file, as JSON lines.
std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  RecordReader reader({path});
  Record r;
  while (reader.next(r)) out.push_back(r.to_json());
  return out;
}

}  // namespace

TEST_CASE("OrderedWriter writes in sequence order and stops cleanly", "[pipeline]") {
  std::string path = tmp_path("ordered.jsonl");
  {
    RecordWriter w(path, WriteOptions{Compression::kPlain});
    OrderedWriter o(w, false);
    o.put(2, rec(2));
    o.put(1, std::nullopt);
    CHECK(o.written() == 0);
    o.put(0, rec(0));
    CHECK(o.written() == 2);
    o.stop(4);
    o.put(5, rec(5));
    o.put(3, rec(3));
    o.put(4, rec(4));
    CHECK(o.written() == 3);
    w.close();
  }
  CHECK(slurp(path) == "{\"i\":0}\n{\"i\":2}\n{\"i\":3}\n");
}

TEST_CASE("read_done_keys: (id, sample) pairs, missing file empty", "[pipeline]") {
  std::string path = tmp_path("done.jsonl");
  spit(path, "{\"id\":\"a\",\"sample\":0}\n{\"id\":\"a\",\"sample\":2}\n{\"id\":7}\n{\"x\":1}\n");
  auto k = read_done_keys(path);
  CHECK(k.size() == 3);
  CHECK(k.count({"a", 2}));
  CHECK(k.count({"7", 0}));
  CHECK(read_done_keys(tmp_path("does-not-exist.jsonl")).empty());
  CHECK(read_done_keys("").empty());
}

TEST_CASE("resume_target cuts a torn record, collects keys and keeps the file's format", "[pipeline]") {
  std::string path = tmp_path("resume.jsonl");
  spit(path, "{\"id\":\"a\"}\n{\"id\":\"b\",\"sample\":1}\n{\"id\":\"c\"");
  ResumeTarget t = resume_target("-", path, WriteOptions{Compression::kZstd});
  CHECK(t.resumed);
  CHECK(t.path == path);
  CHECK(t.write.append);
  CHECK(t.write.compression == Compression::kPlain);  // the file is plain whatever was asked
  CHECK(t.write.flush_each);
  CHECK(t.done == DoneKeys{{"a", 0}, {"b", 1}});
  CHECK(slurp(path) == "{\"id\":\"a\"}\n{\"id\":\"b\",\"sample\":1}\n");

  ResumeTarget fresh = resume_target("out.jsonl", "", WriteOptions{Compression::kZstd});
  CHECK(!fresh.resumed);
  CHECK(fresh.path == "out.jsonl");
  CHECK(fresh.write.compression == Compression::kZstd);
  CHECK(!fresh.write.append);
  CHECK(fresh.write.flush_each);

  try {
    resume_target("other.jsonl", path, {});
    FAIL("-o naming another file must be refused");
  } catch (const Error& e) {
    CHECK(e.exit_code() == kExitUsage);
  }
}

TEST_CASE("resume_also continues a second file in its own format, its keys done", "[pipeline]") {
  std::string out = tmp_path("also-out.jsonl"), rej = tmp_path("also-rej.jsonl");
  spit(out, "{\"id\":\"a\"}\n");
  {
    RecordWriter w(rej, WriteOptions{Compression::kZstd});  // zstd although named .jsonl
    w.write(Record::parse("{\"id\":\"r\",\"sample\":3}"));
    w.close();
  }
  ResumeTarget t = resume_target("-", out, WriteOptions{Compression::kPlain});
  WriteOptions w = resume_also(t, rej, WriteOptions{Compression::kPlain});
  CHECK(w.append);
  CHECK(w.compression == Compression::kZstd);
  CHECK(t.done == DoneKeys{{"a", 0}, {"r", 3}});
  {
    RecordWriter more(rej, w);
    more.write(Record::parse("{\"id\":\"s\"}"));
    more.close();
  }
  CHECK(lines_of(rej) == std::vector<std::string>{"{\"id\":\"r\",\"sample\":3}", "{\"id\":\"s\"}"});

  // Not resuming (or no second file): unchanged, nothing read.
  ResumeTarget fresh = resume_target("-", "", {});
  WriteOptions same = resume_also(fresh, rej, WriteOptions{Compression::kPlain});
  CHECK(!same.append);
  CHECK(same.flush_each);
  CHECK(same.compression == Compression::kPlain);
  CHECK(fresh.done.empty());
  CHECK(!resume_also(t, "", WriteOptions{}).append);
}

TEST_CASE("read_records: kFail throws the first refusal, kSkip counts it", "[pipeline]") {
  std::string in = tmp_path("intake.jsonl");
  spit(in, "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n");
  std::vector<int> kept;
  auto accept = [&](Record& r) {
    int i = int(*r.get_int("i"));
    if (i == 2) throw Error(r.where(), "two is refused");
    if (i == 4) return;  // left out, not an error (e.g. already done)
    kept.push_back(i);
  };
  ReadOptions fail;
  try {
    read_records({in}, fail, accept);
    FAIL("kFail must throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "two is refused");
    CHECK(e.where().str() == in + ":2");
  }
  CHECK(kept == std::vector<int>{1});

  kept.clear();
  ReadOptions skip;
  skip.on_error = OnError::kSkip;
  CHECK(read_records({in}, skip, accept) == 1);
  CHECK(kept == std::vector<int>{1, 3});
}

TEST_CASE("read_records: lines that do not parse and refused records share one --rejects file",
          "[pipeline]") {
  std::string in = tmp_path("rej-in.jsonl"), rej = tmp_path("rej-out.jsonl");
  spit(in, "{\"i\":1}\nnot json\n{\"i\":2}\n{\"i\":3}\n");
  ReadOptions skip;
  skip.on_error = OnError::kSkip;
  skip.rejects_path = rej;
  auto accept = [](Record& r) {
    if (*r.get_int("i") != 1) throw Error(r.where(), "refused");
  };
  CHECK(read_records({in}, skip, accept, WriteOptions{Compression::kZstd}) == 3);
  // The reader's plain lines first, then the refused records, appended in the same format.
  CHECK(slurp(rej) == "not json\n{\"i\":2}\n{\"i\":3}\n");

  // Only refused records: the file is the caller's format (here zstd).
  spit(in, "{\"i\":2}\n");
  CHECK(read_records({in}, skip, accept, WriteOptions{Compression::kZstd}) == 1);
  CHECK(existing_compression(rej) == Compression::kZstd);
  CHECK(lines_of(rej) == std::vector<std::string>{"{\"i\":2}"});
}

TEST_CASE("LazyRecordWriter creates nothing until the first record", "[pipeline]") {
  std::string path = tmp_path("lazy.jsonl");
  std::remove(path.c_str());
  {
    LazyRecordWriter w(path, WriteOptions{Compression::kPlain});
    w.close();
  }
  CHECK(!std::filesystem::exists(path));
  LazyRecordWriter w(path, WriteOptions{Compression::kPlain});
  w.write(rec(1));
  w.close();
  w.close();
  CHECK(w.written() == 1);
  CHECK(slurp(path) == "{\"i\":1}\n");
  LazyRecordWriter none("", {});
  none.write(rec(1));
  CHECK(none.written() == 0);
}

TEST_CASE("KeyedRun: chunks in order, kFail stops after the chunk with a clean prefix", "[pipeline]") {
  std::string path = tmp_path("keyed-fail.jsonl");
  ResumeTarget t = resume_target(path, "", WriteOptions{Compression::kPlain});
  KeyedRun run(t, {false, OnError::kFail, 3});
  std::vector<std::pair<size_t, size_t>> chunks;
  run.run(10, [&](size_t begin, size_t end) {
    chunks.emplace_back(begin, end);
    for (size_t q = end; q-- > begin;) {  // finish in reverse order
      if (q == 4) run.fail(q, "job 4 failed");
      else if (q == 5) run.fail(q, "job 5 failed");
      else run.put(q, rec(int(q)));
    }
  });
  run.close();
  CHECK(chunks == std::vector<std::pair<size_t, size_t>>{{0, 3}, {3, 6}});
  CHECK(run.failed() == 2);
  CHECK(run.first_error() == "job 5 failed");  // the first reported, not the lowest
  CHECK(run.written() == 4);                    // 0..3: nothing at or after job 4
  CHECK(slurp(path) == "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n");
}

TEST_CASE("KeyedRun: kSkip leaves failed jobs out and goes on; unordered writes as they come",
          "[pipeline]") {
  std::string path = tmp_path("keyed-skip.jsonl");
  {
    KeyedRun run(resume_target(path, "", WriteOptions{Compression::kPlain}), {false, OnError::kSkip, 2});
    run.run(5, [&](size_t begin, size_t end) {
      for (size_t q = begin; q < end; ++q) {
        if (q == 1) run.fail(q, "job 1 failed");
        else run.put(q, q == 3 ? std::nullopt : std::optional<Record>(rec(int(q))));
      }
    });
    run.close();
    CHECK(run.failed() == 1);
    CHECK(run.first_error().empty());
    CHECK(run.written() == 3);
  }
  CHECK(slurp(path) == "{\"i\":0}\n{\"i\":2}\n{\"i\":4}\n");
  {
    KeyedRun run(resume_target(path, "", WriteOptions{Compression::kPlain}), {true, OnError::kFail, 8});
    run.run(3, [&](size_t begin, size_t end) {
      for (size_t q = end; q-- > begin;) run.put(q, rec(int(q)));
    });
    run.close();
  }
  CHECK(slurp(path) == "{\"i\":2}\n{\"i\":1}\n{\"i\":0}\n");
  CHECK_THROWS_AS(KeyedRun(resume_target(path, "", {}), {false, OnError::kFail, 0}), Error);
}
