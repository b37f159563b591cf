// Unit tests for the record stream: Record editing, LineReader (plain/zstd, truncation),
// RecordReader policies, RecordWriter, truncate_to_complete, Predicate.
#include <catch2/catch.hpp>
#include <unistd.h>
#include <zstd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "delib/filter.h"
#include "delib/records.h"

using namespace delib;
namespace fs = std::filesystem;

namespace {

std::string zstd_compress(const std::string& s, int level = 3) {
  std::string out(ZSTD_compressBound(s.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), s.data(), s.size(), level);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::vector<std::string> read_lines(const std::string& bytes) {
  auto r = LineReader::from_memory(bytes);
  std::vector<std::string> out;
  std::string line;
  while (r->next(line)) out.push_back(line);
  return out;
}

fs::path tmpdir() {
  const char* base = std::getenv("DELIB_TMP");
  fs::path p = fs::path(base ? base : "/tmp") / ("records-" + std::to_string(getpid()));
  fs::create_directories(p);
  return p;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("untouched fields keep their bytes, edits replace in place or append") {
  std::string line = R"({"id":"a1", "x" : 1.50, "nested":{"k":[1, 2.0e0]},"s":"\u00e9\n"})";
  Record r = Record::parse(line);
  CHECK(r.to_json() == line);  // untouched: verbatim
  r.set("x", Json(2));
  r.set("new", Json("v"));
  CHECK(r.to_json() == R"({"id":"a1","x":2,"nested":{"k":[1, 2.0e0]},"s":"\u00e9\n","new":"v"})");
  r.erase("id");
  CHECK(r.keys() == std::vector<std::string>{"x", "nested", "s", "new"});
  CHECK(r.get_string("s").value() == "\xc3\xa9\n");
  CHECK(r.path("nested.k.1")->as_double() == 2.0);
  CHECK(!r.path("nested.k.7"));
  CHECK(!r.path("missing.x"));
}

TEST_CASE("parse errors name the problem") {
  CHECK_THROWS_WITH(Record::parse("[1,2]", {"f", 3}), Catch::Contains("not a JSON object"));
  CHECK_THROWS_WITH(Record::parse("{\"a\":", {"f", 3}), Catch::Contains("invalid JSON"));
  CHECK_THROWS_WITH(Record::parse("{\"a\":\"\xff\"}", {"f", 3}), Catch::Contains("UTF-8"));
  try {
    Record::parse("{", {"in.jsonl", 7});
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(e.str().rfind("in.jsonl:7: ", 0) == 0);
  }
  Record r = Record::parse(R"({"n":"x"})");
  CHECK_THROWS_WITH(r.get_number("n"), Catch::Contains("field 'n': expected a number"));
}

TEST_CASE("ids: explicit, numeric, or derived from content and stable") {
  CHECK(Record::parse(R"({"id":"abc"})").id() == "abc");
  CHECK(Record::parse(R"({"id":17})").id() == "17");
  Record a = Record::parse(R"({"prompt":"hi"})");
  Record b = Record::parse(R"({"prompt":"hi"})");
  Record c = Record::parse(R"({"prompt":"ho"})");
  CHECK(a.id() == b.id());
  CHECK(a.id() != c.id());
  CHECK(a.id().size() == 16);
  std::string id = a.ensure_id();
  CHECK(a.to_json() == R"({"id":")" + id + R"(","prompt":"hi"})");
}

TEST_CASE("messages from messages or prompt; malformed ones name the field") {
  auto m = Record::parse(R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":"x","reasoning_content":"r"}]})").messages();
  REQUIRE(m.size() == 3);
  CHECK(m[1].content == "ab");
  CHECK(m[2].reasoning == "r");
  auto p = Record::parse(R"({"prompt":"hello"})").messages();
  REQUIRE(p.size() == 1);
  CHECK(p[0].role == "user");
  CHECK_THROWS_WITH(Record::parse(R"({"messages":[{"content":"x"}]})").messages(),
                    Catch::Contains("messages[0].role"));
  CHECK_THROWS_WITH(Record::parse(R"({"x":1})").messages(), Catch::Contains("neither"));
  // Tool calls are refused, never dropped; an empty or null list is no call.
  CHECK_THROWS_WITH(Record::parse(R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{}}}]}]})").messages(),
                    Catch::Contains("messages[1].tool_calls"));
  CHECK(Record::parse(R"({"messages":[{"role":"assistant","content":"a","tool_calls":[]},{"role":"user","content":"q","tool_calls":null}]})").messages().size() == 2);
}

TEST_CASE("LineReader: plain, CRLF, no final newline, zstd multi-frame and concatenated") {
  CHECK(read_lines("a\nb\r\nc") == std::vector<std::string>{"a", "b", "c"});
  std::string z = zstd_compress("x\ny\n") + zstd_compress("z\n");
  auto lines = read_lines(z);
  CHECK(lines == std::vector<std::string>{"x", "y", "z"});
  auto r = LineReader::from_memory(z);
  std::string l;
  r->next(l);
  CHECK(r->is_zstd());
}

TEST_CASE("is_zstd: the magic number, never a shorter prefix") {
  CHECK(is_zstd(zstd_compress("x\n")));
  CHECK(is_zstd(std::string("\x28\xB5\x2F\xFD", 4)));
  CHECK_FALSE(is_zstd(std::string("\x28\xB5\x2F", 3)));  // a truncated magic is not zstd
  CHECK_FALSE(is_zstd(""));
  CHECK_FALSE(is_zstd("{\"id\":1}"));
  CHECK_FALSE(is_zstd(std::string("\x28\xB5\x2F\xFE", 4)));
}

TEST_CASE("read_file_decompressed: plain as is, zstd of any number of frames, damage is an error") {
  fs::path d = tmpdir();
  const std::string text = "{\"model\": {\"type\": \"BPE\"}}\nno final newline";
  std::ofstream(d / "plain.json", std::ios::binary) << text;
  CHECK(read_file_decompressed((d / "plain.json").string()) == text);
  // Two frames, as `zstd` writes concatenated files.
  const std::string z = zstd_compress(text.substr(0, 10)) + zstd_compress(text.substr(10), 19);
  std::ofstream(d / "two.zst", std::ios::binary) << z;
  CHECK(read_file_decompressed((d / "two.zst").string()) == text);
  // A large file: more than one decoder output buffer.
  std::string big;
  for (int i = 0; i < 200000; ++i) big += std::to_string(i * 7919 % 100003) + ",";
  std::ofstream(d / "big.zst", std::ios::binary) << zstd_compress(big);
  CHECK(read_file_decompressed((d / "big.zst").string()) == big);

  std::ofstream(d / "cut.zst", std::ios::binary) << z.substr(0, z.size() - 3);
  try {
    read_file_decompressed((d / "cut.zst").string());
    FAIL("a cut zstd file was read without an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "truncated zstd data");
    CHECK(e.where().file == (d / "cut.zst").string());
  }
  std::string bad = z;
  bad[6] = char(bad[6] ^ 0x5A);  // inside the first frame's header
  std::ofstream(d / "bad.zst", std::ios::binary) << bad;
  CHECK_THROWS_WITH(read_file_decompressed((d / "bad.zst").string()), Catch::StartsWith("corrupt zstd data: ") ||
                                                                          Catch::Equals("truncated zstd data"));
  try {
    read_file_decompressed((d / "missing.json").string());
    FAIL("a missing file was read");
  } catch (const Error& e) {
    CHECK(e.exit_code() == kExitIo);
    CHECK_THAT(e.what(), Catch::StartsWith("cannot open: "));
  }
}

TEST_CASE("LineReader: truncation at every byte offset loses nothing complete and errors") {
  std::string text;
  for (int i = 0; i < 40; ++i) text += R"({"id":)" + std::to_string(i) + R"(,"t":"line"})" "\n";
  // Two frames so truncation inside the second keeps the whole first frame.
  std::string half = text.substr(0, text.size() / 2);
  half = half.substr(0, half.rfind('\n') + 1);
  std::string rest = text.substr(half.size());
  std::string z = zstd_compress(half) + zstd_compress(rest);
  size_t first_frame = ZSTD_findFrameCompressedSize(z.data(), z.size());
  size_t half_lines = std::count(half.begin(), half.end(), '\n');
  for (size_t cut = 1; cut < z.size(); ++cut) {
    auto r = LineReader::from_memory(z.substr(0, cut));
    std::vector<std::string> got;
    std::string line;
    bool threw = false;
    try {
      while (r->next(line)) got.push_back(line);
    } catch (const Error& e) {
      threw = true;
    }
    INFO("cut at " << cut);
    if (cut < 4) {
      // Too short to be recognised as zstd: read as (binary) text, which records would reject.
      continue;
    }
    // Cut exactly at the end of the first frame is a valid, shorter stream; anything else errors.
    CHECK(threw == (cut != first_frame));
    // Every returned line is a complete original line, in order.
    for (size_t i = 0; i < got.size(); ++i) {
      REQUIRE(i < 40);
      CHECK(got[i] == R"({"id":)" + std::to_string(i) + R"(,"t":"line"})");
    }
    if (cut >= first_frame) {
      CHECK(got.size() >= half_lines);
    }
  }
}

TEST_CASE("RecordReader: fail names file and line; skip counts and writes rejects") {
  fs::path d = tmpdir();
  fs::path in = d / "mixed.jsonl";
  std::ofstream(in) << "{\"a\":1}\nnot json\n\n{\"a\":2}\n[3]\n";
  {
    RecordReader reader({in.string()});
    Record r;
    CHECK(reader.next(r));
    try {
      reader.next(r);
      FAIL("no throw");
    } catch (const Error& e) {
      CHECK(e.str().find(in.string() + ":2: invalid JSON") == 0);
    }
  }
  ReadOptions o;
  o.on_error = OnError::kSkip;
  o.rejects_path = (d / "rejects.jsonl").string();
  RecordReader reader({in.string()}, o);
  auto all = reader.read_all();
  CHECK(all.size() == 2);
  CHECK(reader.skipped() == 2);
  CHECK(slurp(d / "rejects.jsonl") == "not json\n[3]\n");
}

TEST_CASE("RecordWriter round-trip: zstd and plain, and the shard split is a partition") {
  fs::path d = tmpdir();
  std::vector<std::string> lines;
  for (int i = 0; i < 1000; ++i) lines.push_back(R"({"id":"r)" + std::to_string(i) + R"(","v":)" + std::to_string(i * 0.5) + "}");
  for (bool z : {true, false}) {
    fs::path p = d / (z ? "out.zst" : "out.jsonl");
    {
      WriteOptions w;
      w.compression = z ? Compression::kZstd : Compression::kPlain;
      w.workers = z ? 1 : 0;
      RecordWriter out(p.string(), w);
      for (auto& l : lines) out.write(Record::parse(l));
    }
    RecordReader in({p.string()});
    auto got = in.read_all();
    REQUIRE(got.size() == lines.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].to_json() == lines[i]);
  }
  size_t total = 0;
  for (int k = 0; k < 3; ++k) {
    ReadOptions o;
    o.shard = Shard{k, 3};
    RecordReader in({(d / "out.jsonl").string()}, o);
    total += in.read_all().size();
  }
  CHECK(total == lines.size());
  CHECK_THROWS(Shard::parse("3/3"));
  CHECK_THROWS(Shard::parse("a/3"));
}

TEST_CASE("truncate_to_complete then append gives a valid stream") {
  fs::path d = tmpdir();
  for (bool z : {true, false}) {
    fs::path p = d / (z ? "resume.zst" : "resume.jsonl");
    {
      WriteOptions w;
      w.compression = z ? Compression::kZstd : Compression::kPlain;
      w.flush_each = true;
      RecordWriter out(p.string(), w);
      out.write_line(R"({"id":1})");
      out.write_line(R"({"id":2})");
    }
    std::string full = slurp(p);
    // Simulate a kill in the middle of a third record.
    std::string partial = z ? zstd_compress("{\"id\":3}\n").substr(0, 7) : std::string("{\"id\":3");
    std::ofstream(p, std::ios::binary | std::ios::app) << partial;
    CHECK(truncate_to_complete(p.string()) == partial.size());
    CHECK(slurp(p) == full);
    {
      WriteOptions w;
      w.compression = z ? Compression::kZstd : Compression::kPlain;
      w.append = true;
      RecordWriter out(p.string(), w);
      out.write_line(R"({"id":3})");
    }
    RecordReader in({p.string()});
    auto all = in.read_all();
    REQUIRE(all.size() == 3);
    CHECK(all[2].id() == "3");
  }
  CHECK(truncate_to_complete((d / "does-not-exist").string()) == 0);
}

TEST_CASE("Predicate: comparisons, logic, regex, missing fields") {
  Record r = Record::parse(R"({"judge":{"score":7.5},"ok":true,"cat":"self-harm","n":0,"answer":"I can't help"})");
  auto t = [&](const char* e) { return Predicate::parse(e).eval(r); };
  CHECK(t("judge.score>=7"));
  CHECK(!t("judge.score>7.5"));
  CHECK(t("judge.score==7.5 && ok==true"));
  CHECK(t("cat==\"self-harm\""));
  CHECK(t("cat=='violence' || ok"));
  CHECK(!t("n"));
  CHECK(t("!n"));
  CHECK(t("!(missing.x>1)"));
  CHECK(!t("missing==1"));
  CHECK(t("missing!=1"));
  CHECK(!t("cat>3"));  // type mismatch is false
  CHECK(t("answer=~\"(?i)^i can.t\""));
  CHECK_THROWS_WITH(Predicate::parse("a>="), Catch::Contains("column"));
  CHECK_THROWS_WITH(Predicate::parse("a=~\"(\""), Catch::Contains("regular expression"));
  CHECK_THROWS(Predicate::parse("(a>1"));
}

TEST_CASE("Json: numbers round-trip, strings escape control characters") {
  CHECK(Json(0.1).dump() == "0.1");
  CHECK(Json(1e300).dump() == "1e+300");
  CHECK(Json(3.0).dump() == "3");
  CHECK(Json(std::string("a\"\\\x01\n")).dump() == "\"a\\\"\\\\\\u0001\\n\"");
  Json o = Json::object();
  o.set("b", 1);
  o.set("a", 2);
  o.set("b", 3);
  CHECK(o.dump() == "{\"b\":3,\"a\":2}");
  CHECK(Json::parse(R"({"x":[1,"y",null,true]})").dump() == R"({"x":[1,"y",null,true]})");
}
