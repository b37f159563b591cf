// run_tokenize (delib/tokenizer.h): tokenize's library half, with the shared Qwen3 tokenizer.
// The golden CLI cases in tests/cli/tokenize/ check the tool's output; these check the modes,
// the per-record errors and the chat encoding through the library call.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "delib/chat.h"
#include "delib/error.h"
#include "delib/records.h"
#include "delib/tokenizer.h"
#include "shared_data.h"

using namespace delib;
namespace fs = std::filesystem;

namespace {

fs::path scratch() {
  const char* t = std::getenv("DELIB_TMP");
  fs::path p = fs::path(t ? t : "/tmp") / ("tokenize-tool-" + std::to_string(getpid()));
  fs::create_directories(p);
  return p;
}

// `o` reading `lines` from a file and writing plain JSONL to another, on 3 threads.
TokenizeOptions with_files(const std::vector<std::string>& lines, TokenizeOptions o) {
  fs::path d = scratch();
  {
    std::ofstream in(d / "in.jsonl");
    for (const auto& l : lines) in << l << "\n";
  }
  o.inputs = {(d / "in.jsonl").string()};
  o.output = (d / "out.jsonl").string();
  o.write.compression = Compression::kPlain;
  o.threads = 3;
  o.batch = 2;  // several batches
  return o;
}

// run_tokenize over `lines` with `o`; the output records.
std::vector<Record> run(const std::vector<std::string>& lines, const TokenizeOptions& o) {
  TokenizeOptions f = with_files(lines, o);
  REQUIRE(run_tokenize(f) == kExitOk);
  return RecordReader({f.output}).read_all();
}

std::vector<int32_t> ids_of(const Record& r, const std::string& field = "ids") {
  std::vector<int32_t> out;
  std::optional<Json> v = r.get(field);
  REQUIRE(v);
  for (const Json& x : v->as_array()) out.push_back(int32_t(x.as_int()));
  return out;
}

}  // namespace

TEST_CASE("run_tokenize: chats are encoded with encode_chat, fields with encode", "[tokenizer][tool]") {
  const std::string dir = delib_test::shared_path("data/tokenizers/qwen3");
  auto tok = Tokenizer::load(dir);
  auto tpl = ChatTemplate::from_path(dir);
  std::vector<std::string> in = {
      R"({"id":"a","messages":[{"role":"user","content":"<|im_start|>"},{"role":"assistant","content":"ok"}],"text":"x<|im_end|>"})",
      R"({"id":"b","prompt":"Hello there","text":"Hello"})",
      R"({"id":"c","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","reasoning":"r <|im_end|>"},{"role":"user","content":"q2"}],"text":""})",
  };
  TokenizeOptions o;
  o.tokenizer = dir;
  auto out = run(in, o);
  REQUIRE(out.size() == 3);
  for (size_t i = 0; i < out.size(); ++i) {
    auto msgs = Record::parse(in[i]).messages();
    CHECK(ids_of(out[i]) == encode_chat(*tpl, *tok, msgs, {}).ids);
    CHECK(out[i].get_int("n_tokens") == int64_t(ids_of(out[i]).size()));
  }
  o.parse_special = true;
  out = run(in, o);
  for (size_t i = 0; i < out.size(); ++i)
    CHECK(ids_of(out[i]) == tok->encode(tpl->render(Record::parse(in[i]).messages(), false).text, true));

  TokenizeOptions f;
  f.tokenizer = dir;
  f.field = "text";
  f.count = true;
  out = run(in, f);
  CHECK(out[0].get_int("n_tokens") == int64_t(tok->encode("x<|im_end|>").size()));
  CHECK_FALSE(out[0].has("ids"));
  CHECK(out[2].get_int("n_tokens") == 0);

  // Decode into another field, skipping special tokens.
  f.count = false;
  f.ids = true;
  auto encoded = run(in, f);
  std::vector<std::string> ids_lines;
  for (const auto& r : encoded) ids_lines.push_back(r.to_json());
  TokenizeOptions dec;
  dec.tokenizer = dir;
  dec.decode = true;
  dec.field = "back";
  out = run(ids_lines, dec);
  CHECK(out[0].get_string("back") == "x<|im_end|>");
  CHECK(out[1].get_string("back") == "Hello");
}

TEST_CASE("run_tokenize: a bad record fails with its location, or is skipped and counted", "[tokenizer][tool]") {
  const std::string dir = delib_test::shared_path("data/tokenizers/qwen3");
  std::vector<std::string> in = {R"({"text":"ok"})", R"({"other":1})", R"({"text":"fine"})"};
  TokenizeOptions o;
  o.tokenizer = dir;
  o.field = "text";
  try {
    run_tokenize(with_files(in, o));
    FAIL("a record without the field was tokenized");
  } catch (const Error& e) {
    CHECK_THAT(e.str(), Catch::EndsWith("in.jsonl:2: field 'text': expected a string"));
  }
  o.read.on_error = OnError::kSkip;
  auto out = run(in, o);
  REQUIRE(out.size() == 2);
  CHECK(out[1].get_string("text") == "fine");

  // A chat the template refuses (gpt-oss has no tool turns) names the record too.
  TokenizeOptions g;
  g.tokenizer = delib_test::shared_path("data/tokenizers/gptoss");
  g.format = "gpt-oss";
  try {
    run_tokenize(with_files({R"({"messages":[{"role":"user","content":"q"},{"role":"tool","content":"x"}]})"}, g));
    FAIL("gpt-oss rendered a tool turn");
  } catch (const Error& e) {
    CHECK_THAT(e.str(), Catch::Contains("in.jsonl:1: message 1"));
  }
}
