// libFuzzer target for the tokenizer: any bytes must encode (or throw delib::Error for invalid
// UTF-8) without a crash, and for valid UTF-8 two properties must hold on a byte-level BPE:
//   decode(encode(text)) == text        (byte-level BPE without a normalizer is lossless;
//                                        checked for the built-in tokenizer only)
//   encode(text, true) == encode(text) when the text holds no special-token text
// The tokenizer is $DELIB_FUZZ_TOKENIZER (a model directory or tokenizer.json, e.g. the shared
// Qwen3 one) or, by default, a small byte-level BPE built in memory. Random id sequences are
// decoded too (lossy UTF-8 must never crash).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "delib/error.h"
#include "delib/tokenizer.h"

namespace {

std::shared_ptr<const delib::Tokenizer> load() {
  if (const char* p = std::getenv("DELIB_FUZZ_TOKENIZER")) return delib::Tokenizer::load(p);
  std::string json = R"({"added_tokens":[{"id":259,"content":"<|end|>","special":true,"normalized":false}],
    "normalizer":null,
    "pre_tokenizer":{"type":"Sequence","pretokenizers":[
      {"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},
      {"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]},
    "decoder":{"type":"ByteLevel"},
    "model":{"type":"BPE","ignore_merges":true,"vocab":{VOCAB},"merges":[["Ġ","t"],["h","e"],["Ġt","he"]]}})";
  // All 256 byte-level characters, so every input is encodable, plus a few merges.
  std::string vocab;
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    static int next = 0x100;
    uint32_t cp = printable ? uint32_t(b) : uint32_t(next++);
    std::string ch;
    if (cp < 0x80) {
      if (cp == '"' || cp == '\\') ch += '\\';
      ch += char(cp);
    } else {
      ch += char(0xC0 | (cp >> 6));
      ch += char(0x80 | (cp & 0x3F));
    }
    vocab += (id ? "," : "") + std::string("\"") + ch + "\":" + std::to_string(id);
    ++id;
  }
  vocab += ",\"Ġt\":256,\"he\":257,\"Ġthe\":258";
  json.replace(json.find("{VOCAB}"), 7, "{" + vocab + "}");
  auto path = std::filesystem::temp_directory_path() / "fuzz_tokenizer.json";
  std::ofstream(path) << json;
  return delib::Tokenizer::load(path.string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto tok = load();
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<int32_t> ids;
  try {
    ids = tok->encode(text);
  } catch (const delib::Error&) {
    return 0;  // invalid UTF-8
  }
  static const bool lossless = std::getenv("DELIB_FUZZ_TOKENIZER") == nullptr;
  if (lossless && tok->decode(ids) != text) std::abort();
  bool has_special = false;
  for (auto& s : tok->special_tokens()) has_special |= text.find(s) != std::string::npos;
  if (!has_special && tok->encode(text, true) != ids) std::abort();
  (void)tok->encode_guarded(text, {{0, text.size() / 2}});
  // Bytes as ids: decoding arbitrary sequences (fragments of UTF-8, unknown ids) must not crash.
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 1 < size; i += 2) raw.push_back(int32_t(data[i]) * 256 + data[i + 1] - 1000);
  (void)tok->decode(raw, true);
  return 0;
}
