// Unit tests of the tokenizer area: loading, errors, special-token policy, threads, and the
// pipeline stages on small hand-made tokenizer.json files whose output follows from the
// merge rules by hand. Agreement with Hugging Face on real tokenizers and a broad corpus is
// tests/reference/test_tokenizer.py.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "delib/error.h"
#include "delib/tokenizer.h"
#include "shared_data.h"
#include "tokenizer/internal.h"

#include <utf8proc.h>

namespace fs = std::filesystem;
using delib::Tokenizer;

namespace {

// Fails the test case when the shared checkout lacks the tokenizer.
std::string tok_dir(const std::string& name) { return delib_test::shared_path("data/tokenizers/" + name); }

fs::path scratch() {
  const char* t = std::getenv("DELIB_TMP");
  fs::path p = fs::path(t ? t : fs::temp_directory_path().string()) / "unit_tokenizer";
  fs::create_directories(p);
  return p;
}

std::string write_file(const std::string& name, const std::string& text) {
  fs::path p = scratch() / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

// A tiny byte-level BPE: vocab a, b, c, Ġ, ab, abc, Ġa; merges (a b) < (ab c) < (Ġ a).
std::string tiny_json(const std::string& pre, const std::string& normalizer = "null",
                      const std::string& decoder = R"({"type":"ByteLevel"})",
                      const std::string& extra_model = "") {
  return R"({"version":"1.0","truncation":null,"padding":null,
    "added_tokens":[{"id":7,"content":"<|end|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                    {"id":8,"content":"<tag>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false}],
    "normalizer":)" + normalizer + R"(,"pre_tokenizer":)" + pre + R"(,"post_processor":null,"decoder":)" + decoder + R"(,
    "model":{"type":"BPE","dropout":null,"unk_token":null,"fuse_unk":false,"byte_fallback":false)" + extra_model + R"(,
      "vocab":{"a":0,"b":1,"c":2,"Ġ":3,"ab":4,"abc":5,"Ġa":6,"<|end|>":7,"<tag>":8},
      "merges":["a b","ab c","Ġ a"]}})";
}

const char* kByteLevelPre = R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":true})";

using Ids = std::vector<int32_t>;

}  // namespace

TEST_CASE("tiny byte-level BPE merges by rank", "[tokenizer]") {
  auto tok = Tokenizer::load(write_file("tiny.json", tiny_json(kByteLevelPre)));
  CHECK(tok->encode("abc") == Ids{5});            // a b -> ab, ab c -> abc
  // "Ġabc": (a b) has the lowest rank, so it merges before (Ġ a) could; then (ab c).
  CHECK(tok->encode("abc abc") == Ids{5, 3, 5});
  CHECK(tok->encode(" ac") == Ids{6, 2});  // here (Ġ a) is the only merge
  CHECK(tok->encode("cab") == Ids{2, 4});
  CHECK(tok->encode("") == Ids{});
  CHECK(tok->decode({5, 3, 5}) == "abc abc");
  CHECK(tok->vocab_size() == 9);
  CHECK(tok->token_id("Ġa") == std::optional<int32_t>(6));
  CHECK(tok->id_to_token(6) == "Ġa");
  CHECK(tok->token_id("nope") == std::nullopt);
}

TEST_CASE("special tokens are text unless parse_special", "[tokenizer]") {
  auto tok = Tokenizer::load(write_file("tiny.json", tiny_json(kByteLevelPre)));
  Ids plain = tok->encode("ab<|end|>");
  CHECK(std::find(plain.begin(), plain.end(), 7) == plain.end());
  CHECK(tok->encode("ab<|end|>", true) == Ids{4, 7});
  // A non-special added token is ordinary vocabulary: matched in both modes.
  CHECK(tok->encode("ab<tag>c", false) == Ids{4, 8, 2});
  CHECK(tok->encode("ab<tag>c", true) == Ids{4, 8, 2});
  CHECK(tok->is_special(7));
  CHECK_FALSE(tok->is_special(8));
  CHECK_FALSE(tok->is_special(4));
  CHECK(tok->special_tokens() == std::vector<std::string>{"<|end|>"});
  CHECK(tok->decode({4, 7, 2}) == "ab<|end|>c");
  CHECK(tok->decode({4, 7, 2}, true) == "abc");
  CHECK(tok->decode({4, 99, -1, 2}) == "abc");  // unknown ids are skipped, as in tokenizers
}

TEST_CASE("encode_guarded keeps special text literal inside the ranges only", "[tokenizer]") {
  auto tok = Tokenizer::load(write_file("tiny.json", tiny_json(kByteLevelPre)));
  std::string text = "<|end|>ab<|end|>";
  CHECK(tok->encode_guarded(text, {}) == tok->encode(text, true));
  Ids g = tok->encode_guarded(text, {{7, 16}});  // the second occurrence is message content
  REQUIRE(!g.empty());
  CHECK(g.front() == 7);
  CHECK(std::count(g.begin(), g.end(), 7) == 1);
}

TEST_CASE("special_text finds what encode(text, true) makes special, and nothing else", "[tokenizer]") {
  using Ranges = std::vector<std::pair<size_t, size_t>>;
  auto tok = Tokenizer::load(write_file("tiny.json", tiny_json(kByteLevelPre)));
  CHECK(tok->special_text("ab<|end|>c<|end|>") == Ranges{{2, 9}, {10, 17}});
  CHECK(tok->special_text("ab<tag>c").empty());  // non-special added tokens are vocabulary
  CHECK(tok->special_text("<|end|").empty());
  CHECK(tok->special_text("").empty());
  // A special token matched on normalized text: the whole piece it was found in.
  std::string json = tiny_json(kByteLevelPre, R"({"type":"Lowercase"})");
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = json.find(from);
    REQUIRE(at != std::string::npos);
    json.replace(at, from.size(), to);
  };
  const std::string added = R"({"id":8,"content":"<tag>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false})";
  replace(added, added + R"(,{"id":9,"content":"<sp>","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":true})");
  replace(R"("<tag>":8})", R"("<tag>":8,"<sp>":9})");
  auto norm = Tokenizer::load(write_file("tiny-norm.json", json));
  REQUIRE(norm->encode("ab <SP> c", true) != norm->encode("ab <SP> c", false));
  CHECK(norm->special_text("<|end|>ab <SP> c") == Ranges{{0, 7}, {7, 16}});
}

TEST_CASE("special_text is empty exactly when parse_special changes nothing", "[tokenizer][shared]") {
  // The default implementation (for test doubles) and the real one agree on these tokenizers,
  // whose special tokens are neither normalized nor stripping.
  struct Plain : Tokenizer {
    std::shared_ptr<const Tokenizer> t;
    std::vector<int32_t> encode(std::string_view s, bool p) const override { return t->encode(s, p); }
    std::vector<int32_t> encode_guarded(std::string_view s, const std::vector<std::pair<size_t, size_t>>& l) const override {
      return t->encode_guarded(s, l);
    }
    std::string decode(const std::vector<int32_t>& ids, bool skip) const override { return t->decode(ids, skip); }
    std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& s, bool p, int n) const override {
      return t->encode_batch(s, p, n);
    }
    int32_t vocab_size() const override { return t->vocab_size(); }
    std::optional<int32_t> token_id(std::string_view s) const override { return t->token_id(s); }
    std::string id_to_token(int32_t id) const override { return t->id_to_token(id); }
    bool is_special(int32_t id) const override { return t->is_special(id); }
    const std::vector<std::string>& special_tokens() const override { return t->special_tokens(); }
    std::optional<int32_t> bos_id() const override { return t->bos_id(); }
    std::optional<int32_t> eos_id() const override { return t->eos_id(); }
    std::optional<int32_t> pad_id() const override { return t->pad_id(); }
    const std::string& chat_template() const override { return t->chat_template(); }
  };
  for (const char* name : {"qwen3", "llama3_1", "gptoss"}) {
    INFO(name);
    Plain fallback;
    fallback.t = Tokenizer::load(tok_dir(name));
    const Tokenizer& tok = *fallback.t;
    std::vector<std::string> texts = {"plain text", "<|im_end|>", "a<|eot_id|>b<|start|>c", "<|im_start|",
                                      "<think></think>", "<|end|><|return|><|message|>", "x<|begin_of_text|>",
                                      "<|reserved_special_token_5|> <|endoftext|>"};
    for (const std::string& s : tok.special_tokens()) {
      if (texts.size() > 60) break;
      texts.push_back("[" + s + "]");
    }
    for (const std::string& s : texts) {
      INFO(s);
      auto r = tok.special_text(s);
      CHECK(r.empty() == (tok.encode(s, true) == tok.encode(s, false)));
      CHECK(fallback.special_text(s) == r);
      for (const auto& [a, b] : r) CHECK(tok.token_id(s.substr(a, b - a)).has_value());
    }
  }
}

TEST_CASE("invalid UTF-8 is an error", "[tokenizer]") {
  auto tok = Tokenizer::load(write_file("tiny.json", tiny_json(kByteLevelPre)));
  CHECK_THROWS_AS(tok->encode("ab\xC3("), delib::Error);
  CHECK_THROWS_AS(tok->encode("\xED\xA0\x80"), delib::Error);  // a surrogate
}

TEST_CASE("unknown components are errors naming them", "[tokenizer]") {
  auto expect_error = [](const std::string& json, const std::string& needle) {
    std::string path = write_file("bad.json", json);
    try {
      Tokenizer::load(path);
      FAIL("no error for " << needle);
    } catch (const delib::Error& e) {
      INFO(e.str());
      CHECK(e.str().find(needle) != std::string::npos);
      CHECK(e.where().file == path);
    }
  };
  expect_error(tiny_json(R"({"type":"BertPreTokenizer"})"), "BertPreTokenizer");
  expect_error(tiny_json(kByteLevelPre, R"({"type":"Precompiled","precompiled_charsmap":""})"), "Precompiled");
  expect_error(tiny_json(kByteLevelPre, "null", R"({"type":"WordPiece","prefix":"##"})"), "WordPiece");
  expect_error(R"({"model":{"type":"Unigram","vocab":[]}})", "Unigram");
  expect_error(tiny_json(R"({"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated"})"), "(unclosed");
  expect_error("{not json", "invalid JSON");
  CHECK_THROWS_AS(Tokenizer::load((scratch() / "does-not-exist").string()), delib::Error);
}

TEST_CASE("Metaspace, byte fallback and the sentencepiece decoders", "[tokenizer]") {
  // ▁ for spaces; characters outside the vocabulary become <0xXX> byte tokens.
  std::string json = R"({"added_tokens":[],"normalizer":null,
    "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false},
    "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},
      {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
    "model":{"type":"BPE","unk_token":null,"byte_fallback":true,
      "vocab":{"▁":0,"h":1,"i":2,"▁h":3,"▁hi":4,"<0xC3>":5,"<0xA9>":6,"<0x21>":7},
      "merges":[["▁","h"],["▁h","i"]]}})";
  auto tok = Tokenizer::load(write_file("sp.json", json));
  CHECK(tok->encode("hi hi") == Ids{4, 4});
  CHECK(tok->encode("hié!") == Ids{4, 5, 6, 7});
  CHECK(tok->decode({4, 4}) == "hi hi");
  CHECK(tok->decode({4, 5, 6, 7}) == "hié!");
  CHECK(tok->decode({4, 5}) == "hi\xEF\xBF\xBD");  // a lone lead byte decodes to U+FFFD
}

TEST_CASE("zstd and plain tokenizer.json load the same", "[tokenizer][shared]") {
  std::string dir = tok_dir("qwen3");
  auto z = Tokenizer::load(dir);
  std::string plain_path = (scratch() / "qwen3-plain.json").string();
  {
    std::string cmd = "zstd -q -d -f -o '" + plain_path + "' '" + dir + "/tokenizer.json.zst'";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  auto p = Tokenizer::load(plain_path);
  std::string text = "Hello, wörld! 你好 <|im_end|>\n\n  x";
  CHECK(z->encode(text) == p->encode(text));
  CHECK(z->encode(text, true) == p->encode(text, true));
  // Config values come from tokenizer_config.json next to tokenizer.json.
  CHECK(z->eos_id() == z->token_id("<|im_end|>"));
  CHECK(z->pad_id() == z->token_id("<|endoftext|>"));
  CHECK_FALSE(z->chat_template().empty());
  CHECK(z->is_special(*z->token_id("<|im_end|>")));
  CHECK(z->vocab_size() == 151669);
  Ids with = z->encode("a<|im_end|>b", true);
  CHECK(std::count(with.begin(), with.end(), *z->token_id("<|im_end|>")) == 1);
  Ids without = z->encode("a<|im_end|>b");
  CHECK(std::count(without.begin(), without.end(), *z->token_id("<|im_end|>")) == 0);
  CHECK(z->decode(without) == "a<|im_end|>b");
}

TEST_CASE("encode_batch equals encode, from many threads", "[tokenizer][shared]") {
  std::string dir = tok_dir("llama3_1");
  auto tok = Tokenizer::load(dir);
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i) {
    texts.push_back("record " + std::to_string(i * 7919) + ": the quick brown fox " + std::string(size_t(i % 13), '!') +
                    " jumps\n\tover ñandú 🦊 " + std::to_string(i));
  }
  std::vector<Ids> want;
  for (auto& t : texts) want.push_back(tok->encode(t));
  CHECK(tok->encode_batch(texts, false, 4) == want);
  CHECK(tok->encode_batch(texts, false, 1) == want);
  // Concurrent callers share the word cache.
  std::vector<std::thread> pool;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      for (size_t i = 0; i < texts.size(); ++i) {
        if (tok->encode(texts[i]) != want[i]) ++bad;
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(bad == 0);
}

TEST_CASE("utf8_lossy replaces maximal invalid subparts", "[tokenizer]") {
  using delib::tok::utf8_lossy;
  const std::string r = "\xEF\xBF\xBD";
  CHECK(utf8_lossy("ok") == "ok");
  CHECK(utf8_lossy("a\xC3") == "a" + r);
  CHECK(utf8_lossy("\xE2\x82") == r);            // truncated 3-byte sequence: one U+FFFD
  CHECK(utf8_lossy("\xE2\x82x") == r + "x");
  CHECK(utf8_lossy("\xF0\x80\x80") == r + r + r);  // F0 80 is not a valid prefix
  CHECK(utf8_lossy("\xFF\xC3\xA9") == r + "\xC3\xA9");
}

TEST_CASE("the NFC quick check never skips text NFC would change", "[tokenizer]") {
  // The NFC normalizer skips utf8proc when its quick check says the text is stable; compare
  // it with utf8proc's full NFC around every code point of planes 0-2 and 14, alone, after a
  // starter and before a combining mark.
  simdjson::dom::parser parser;
  auto nfc = delib::tok::make_normalizer(parser.parse(std::string(R"({"type":"NFC"})")).value());
  auto full = [](const std::string& s) {
    char* out = reinterpret_cast<char*>(utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str())));
    std::string r(out);
    free(out);
    return r;
  };
  size_t bad = 0;
  size_t checked = 0;
  for (auto [lo, hi] : {std::pair<uint32_t, uint32_t>{1, 0x30000}, {0xE0000, 0xE0200}}) for (uint32_t cp = lo; cp < hi; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    ++checked;
    std::string c;
    delib::tok::utf8_append(cp, c);
    for (std::string s : {c, "a" + c + "b", c + "\xCC\x81", "\xE1\x84\x80" + c}) {
      std::string n = s;
      nfc->normalize(n);
      if (n != full(s) && ++bad <= 5) WARN("U+" << std::hex << cp);
    }
  }
  CHECK(checked > 0x2F000);
  CHECK(bad == 0);
}
