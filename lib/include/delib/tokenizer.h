// Hugging Face tokenizer.json, byte for byte (area: tokenizer; no LibTorch).
// CONTRACT: other areas call only what is declared here; the owner may add, not rename.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

}  // namespace delib
