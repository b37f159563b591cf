// Hugging Face tokenizer.json, byte for byte (area: tokenizer; no LibTorch).
// Other areas use tokenizers only through this header.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "delib/records.h"

namespace delib {

class Tokenizer {
 public:
  // Loads `path`: a model directory (tokenizer.json or tokenizer.json.zst [+
  // tokenizer_config.json, special_tokens_map.json]) or a tokenizer.json file (plain or zstd,
  // detected by its magic; the config files are then read from the file's directory).
  // Throws delib::Error (kExitIo when unreadable) naming the file.
  //
  // Supported (tokenizers v0.23 semantics): model BPE (byte fallback, unk/fuse_unk,
  // ignore_merges, continuing_subword_prefix, end_of_word_suffix); normalizers NFC, NFD, NFKC,
  // NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Sequence; pre-tokenizers ByteLevel,
  // Split (string or regex; every behavior; invert), Metaspace (prepend_scheme, split),
  // Digits, Whitespace, WhitespaceSplit, Sequence; decoders ByteLevel, Metaspace,
  // ByteFallback, Fuse, Strip, Replace, BPEDecoder, Sequence. Any other type is an Error
  // naming it. The post_processor is not applied (ids are those of add_special_tokens=False),
  // truncation/padding are ignored, and transformers' clean_up_tokenization_spaces is not
  // applied by decode (tokenizers' decode does not apply it either).
  static std::shared_ptr<const Tokenizer> load(const std::string& path);
  virtual ~Tokenizer() = default;

  // Same ids as HF tokenizers `encode(text, add_special_tokens=False)` when parse_special is
  // true; by default special/added-token text is NOT recognised (no control-token injection).
  // Precisely, parse_special=false is HF with `tokenizer.encode_special_tokens = True`: the
  // text of a *special* added token (special: true, e.g. <|im_end|>) is encoded as ordinary
  // text; non-special added tokens (e.g. Qwen3's <think>, <tool_call>) are still matched, as
  // they are ordinary vocabulary the model reads in plain text.
  // Throws delib::Error when `text` is not valid UTF-8.
  virtual std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const = 0;
  // encode(text, true), except that special-token text inside any of the byte ranges
  // `literal` ([begin, end) pairs) is encoded as ordinary text. For a rendered chat: the
  // template's markup is parsed, the messages' own content cannot inject control tokens.
  // Outside those occurrences the ids equal encode(text, true).
  virtual std::vector<int32_t> encode_guarded(
      std::string_view text, const std::vector<std::pair<size_t, size_t>>& literal) const = 0;
  // Where `text` spells special tokens: the byte ranges [begin, end), in order, that
  // encode(text, /*parse_special=*/true) turns into special ids (special: true added tokens,
  // matched leftmost-longest as encode matches them, with the whitespace an lstrip/rstrip token
  // absorbs). Empty exactly when the text spells no control token, i.e. when
  // encode(text, true) == encode(text, false). A special token with normalized: true, matched
  // on normalized text, is reported as the whole piece of `text` it was found in (normalizing
  // moves offsets). Thread-safe. (The default implementation, for test doubles, searches
  // special_tokens() leftmost-longest.)
  virtual std::vector<std::pair<size_t, size_t>> special_text(std::string_view text) const;
  // Same string as HF `decode(ids, skip_special_tokens=skip_special)`.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;
  // Thread-parallel batch encode (threads 0 = all cores); out[i] == encode(texts[i]).
  // Every method is thread-safe: one Tokenizer may be shared by any number of threads.
  virtual std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                         bool parse_special = false,
                                                         int threads = 0) const = 0;

  virtual int32_t vocab_size() const = 0;  // incl. added tokens: the largest id + 1
  virtual std::optional<int32_t> token_id(std::string_view token) const = 0;  // exact token
  virtual std::string id_to_token(int32_t id) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // The content of every special added token (special: true), in tokenizer.json order.
  virtual const std::vector<std::string>& special_tokens() const = 0;
  // From tokenizer_config.json when present.
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::optional<int32_t> pad_id() const = 0;
  // The `chat_template` string from tokenizer_config.json ("" when none).
  virtual const std::string& chat_template() const = 0;
};

// ---- tokenize: the tool's run (lib/src/tokenizer/tokenize_tool.cpp) ------------------------

// Everything one tokenize run does; each field is the flag of the same name.
struct TokenizeOptions {
  // Input records in order ("-" or none: stdin) and how they are read. read.on_error also
  // decides what a record that fails to tokenize does: kFail stops with its Error, kSkip counts
  // it ("tokenize: warning: skipped N bad record(s)" at the end) and leaves it out.
  std::vector<std::string> inputs;
  ReadOptions read;
  // Where the records go ("-": stdout). With stats and output "-" no records are written.
  std::string output = "-";
  WriteOptions write;
  int threads = 0;        // tokenizer threads (0: all cores)
  bool progress = false;  // a progress line on stderr

  // Tokenizer::load path (model directory or tokenizer.json). REQUIRES: non-empty.
  std::string tokenizer;
  // Encode: the text field (dotted path) to encode; "" (default): the conversation
  // (Record::messages) rendered by the chat template without a generation prompt and encoded
  // with encode_chat (delib/chat.h). Decode: the field written ("" means "text").
  std::string field;
  // The chat template for the default text: `format` names a known variant
  // (ChatTemplate::from_variant), else `template_file` (from_path), else the tokenizer's
  // directory (from_path) or its tokenizer_config.json chat_template.
  std::string template_file;
  std::string format;
  std::string ids_field = "ids";  // written by ids, read by decode
  // Encode: add the ids (field ids_field) and/or their number (field n_tokens); neither set
  // means both.
  bool ids = false, count = false;
  bool decode = false;            // ids_field -> text (Tokenizer::decode) instead of encoding
  bool skip_special = false;      // decode: leave special tokens out
  // Encode: special-token text is matched everywhere, message and field text included, as
  // transformers does (default: only in the chat template's markup).
  bool parse_special = false;
  // Print "records N", "tokens N" and the nearest-rank p50/p90/p99/max of the token counts
  // (tab-separated lines) to stdout after the run.
  bool stats = false;
  int batch = 512;                // records tokenized in parallel per batch (REQUIRES: > 0)
};

// Runs tokenize as `o` says and returns its exit code: kExitOk, or 128 + the signal when
// interrupted (the records done so far are written). Throws Error: the tokenizer or template
// cannot be loaded, or a bad record with read.on_error kFail (FILE:LINE: message).
int run_tokenize(const TokenizeOptions& o);

}  // namespace delib
