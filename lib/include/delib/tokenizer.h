// Hugging Face tokenizer.json, byte for byte (area: tokenizer; no LibTorch).
// CONTRACT: other areas call only what is declared here; the owner may add, not rename.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace delib {

class Tokenizer {
 public:
  // Loads `path`: a model directory (tokenizer.json [+ tokenizer_config.json,
  // special_tokens_map.json]) or a tokenizer.json file (plain or zstd). Throws delib::Error.
  static std::shared_ptr<const Tokenizer> load(const std::string& path);
  virtual ~Tokenizer() = default;

  // Same ids as HF tokenizers `encode(text, add_special_tokens=False)` when parse_special is
  // true; by default special/added-token text is NOT recognised (no control-token injection).
  virtual std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const = 0;
  // Same string as HF `decode(ids, skip_special_tokens=skip_special)`.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;
  // Thread-parallel batch encode (threads 0 = all cores).
  virtual std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                         bool parse_special = false,
                                                         int threads = 0) const = 0;

  virtual int32_t vocab_size() const = 0;                      // incl. added tokens
  virtual std::optional<int32_t> token_id(std::string_view token) const = 0;  // exact token
  virtual std::string id_to_token(int32_t id) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // From tokenizer_config.json when present.
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::optional<int32_t> pad_id() const = 0;
  // The `chat_template` string from tokenizer_config.json ("" when none).
  virtual const std::string& chat_template() const = 0;
};

}  // namespace delib
