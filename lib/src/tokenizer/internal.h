// Private pieces of the tokenizer area: the pipeline stages of a Hugging Face tokenizer.json.
//
// The pipeline mirrors `tokenizers` (Rust) step for step, because agreeing with it byte for
// byte is the point of this area:
//
//   text -> split out added tokens that are matched on the raw text (normalized=false)
//        -> normalize each remaining segment            (Normalizer)
//        -> split out added tokens matched on normalized text (normalized=true)
//        -> pre-tokenize each remaining segment into words (PreTokenizer)
//        -> BPE each word into ids                      (Bpe)
//   ids  -> token strings -> Decoder chain -> text
//
// Offsets are not tracked (delib needs ids and text, not alignments); the one place where
// `tokenizers` consults an offset (Metaspace prepend_scheme "first": is this piece at the very
// start of the input?) is carried as Piece::at_origin.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
#include "common/utf8.h"

#include <simdjson.h>

namespace delib::tok {

// ---- UTF-8 -------------------------------------------------------------------------------

// Byte length of the UTF-8 sequence that starts with `lead` (1 for continuation/invalid bytes).
inline size_t utf8_seq_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}
// Offset of the first invalid byte of `s`, or npos when `s` is valid UTF-8 (RFC 3629: no
// surrogates, no overlongs, nothing above U+10FFFF).
size_t utf8_invalid_at(std::string_view s);
// Decodes the code point at s[i] (REQUIRES: valid UTF-8) and advances i.
uint32_t utf8_next(std::string_view s, size_t& i);
using delib::utf8_append;  // common/utf8.h
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD
// (the Unicode "substitution of maximal subparts" practice, which Rust follows).
std::string utf8_lossy(std::string_view bytes);

// Unicode properties as Rust's `char` methods and regex classes define them, from utf8proc.
bool is_white_space(uint32_t cp);   // char::is_whitespace, regex \s (White_Space)
bool is_word_char(uint32_t cp);     // regex \w (Alphabetic, M, Nd, Pc, Join_Control)

// ---- Regex (PCRE2, UTF + UCP + JIT) ------------------------------------------------------

class Regex {
 public:
  // Compiles `pattern` (the Oniguruma/Rust syntax of tokenizer.json, which the HF patterns
  // share with PCRE2). Throws delib::Error naming the pattern when it does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Appends [start, end) of every non-overlapping match of `s` (REQUIRES: valid UTF-8) to
  // `out`, leftmost first, like Rust's find_iter (an empty match advances one character).
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// A `Split`/`Replace` pattern: either a literal string or a Regex.
class Pattern {
 public:
  static Pattern literal(std::string s);
  static Pattern regex(const std::string& re);
  // Matches as [start, end) pairs, non-overlapping, leftmost first.
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  std::string literal_;
  std::shared_ptr<Regex> regex_;
};

// ---- Pieces ------------------------------------------------------------------------------

// A piece of text in flight through the pipeline. `s` points into the input, into a
// normalized copy, or into the Arena.
struct Piece {
  std::string_view s;
  bool at_origin = false;  // starts at original offset 0 (Metaspace prepend_scheme "first")
};

// Owns strings produced while encoding one text, so Pieces can be views.
class Arena {
 public:
  std::string_view keep(std::string s) {
    bufs_.push_back(std::move(s));
    return bufs_.back();
  }
  void clear() { bufs_.clear(); }

 private:
  std::deque<std::string> bufs_;  // deque: elements never move, views stay valid
};

// ---- Normalizers -------------------------------------------------------------------------

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `s` in place (valid UTF-8 in, valid UTF-8 out).
  virtual void normalize(std::string& s) const = 0;
};

// ---- Pre-tokenizers ----------------------------------------------------------------------

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces; empty pieces are dropped (as tokenizers does).
  virtual void split(std::vector<Piece>& pieces, Arena& arena) const = 0;
};

// ---- Decoders ----------------------------------------------------------------------------

class Decoder {
 public:
  virtual ~Decoder() = default;
  // tokenizers' decode_chain: token strings in, token strings out (joined by the caller).
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// ---- BPE ---------------------------------------------------------------------------------

// Open-addressing hash map from byte strings to ids (keys stored in one buffer).
class StringIdMap {
 public:
  void reserve(size_t n);
  // Inserts or overwrites.
  void set(std::string_view key, int32_t id);
  std::optional<int32_t> get(std::string_view key) const;
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t off = 0, len = 0;
    int32_t id = -1;  // -1: empty
  };
  std::vector<Slot> slots_;
  std::string keys_;
  size_t count_ = 0;
  void grow();
};

// Open-addressing map from an id pair to (merge rank, merged id).
class MergeMap {
 public:
  void reserve(size_t n);
  void set(int32_t a, int32_t b, int32_t rank, int32_t new_id);
  // Returns false when the pair has no merge.
  bool get(int32_t a, int32_t b, int32_t& rank, int32_t& new_id) const {
    if (slots_.empty()) return false;
    uint64_t key = (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
    size_t mask = slots_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.rank < 0) return false;
      if (s.key == key) {
        rank = s.rank;
        new_id = s.new_id;
        return true;
      }
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;
    int32_t rank = -1, new_id = -1;
  };
  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
  }
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

// The BPE model of tokenizers (models::bpe): a word is split into characters (or, in byte
// mode, bytes; see below), each looked up in the vocabulary (else byte fallback <0xXX>, else
// the unk token), then adjacent symbols are merged lowest merge rank first, leftmost first
// among equal ranks, until no pair has a merge (Sennrich et al. 2016; the priority-queue form
// of tokenizers' Word::merge_all).
//
// Byte mode: when the last pre-tokenizer is ByteLevel, tokenizers maps every byte b of a word
// to one printable character bytes_char(b) and looks the characters up. That mapping is a
// bijection, so delib skips it: the word stays raw bytes and the vocabulary is keyed by the
// decoded bytes of each token. Same ids, no re-encoding, and the cache key is the raw word.
class Bpe {
 public:
  StringIdMap vocab;        // token string -> id (as in tokenizer.json)
  StringIdMap byte_vocab;   // byte mode: raw bytes -> id
  std::vector<std::string> id_to_token;  // model vocabulary, "" for holes
  MergeMap merges;
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::string continuing_subword_prefix, end_of_word_suffix;
  bool byte_mode = false;
  std::array<int32_t, 256> byte_fallback_id{};  // id of "<0xXX>" or -1
  std::array<int32_t, 256> byte_unit_id{};      // byte mode: id of bytes_char(b) or -1

  Bpe();
  ~Bpe();
  // Appends the ids of `word` to `out`. Thread-safe (the cache is sharded and locked).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  // Sets up byte mode (REQUIRES: vocab filled).
  void enable_byte_mode();

 private:
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    uint32_t len;
  };
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  void add_unit(std::string_view unit, bool is_first, bool is_last, std::vector<Symbol>& syms,
                std::optional<std::pair<int32_t, uint32_t>>& unk) const;

  // Per-word cache: direct-mapped (a word's hash picks one slot; a new word overwrites the
  // slot), sharded by hash with one mutex per shard so threads rarely contend. Fixed memory
  // (kShards * kSlots * 64 bytes = 4 MiB), no allocation on a hit or a fill. Words longer
  // than kMaxKey bytes or with more than kMaxIds ids are not cached.
  static constexpr size_t kShards = 64;
  static constexpr size_t kSlots = 1024;  // per shard
  static constexpr size_t kMaxKey = 22;
  static constexpr size_t kMaxIds = 8;
  struct Entry {
    uint64_t hash = 0;
    uint8_t key_len = 0, n_ids = 0;  // n_ids == 0: empty
    char key[kMaxKey];
    int32_t ids[kMaxIds];
  };
  struct Shard {
    std::mutex mu;
    Entry slots[kSlots];
  };
  std::unique_ptr<Shard[]> cache_;
};

// The 256 printable characters GPT-2's byte-level BPE uses for bytes (bytes_to_unicode()).
uint32_t bytes_char(uint8_t b);
// Inverse: byte for a byte-level character, or -1.
int byte_of_char(uint32_t cp);

// ---- Component factories (tokenizer.json objects -> stages) -------------------------------
// Each throws delib::Error naming an unknown or malformed component; JSON null gives nullptr.

std::unique_ptr<Normalizer> make_normalizer(simdjson::dom::element e);
// `raw_last_byte_level`: the last ByteLevel of the chain leaves words as raw bytes (byte mode).
std::unique_ptr<PreTokenizer> make_pre_tokenizer(simdjson::dom::element e, bool raw_last_byte_level);
std::unique_ptr<Decoder> make_decoder(simdjson::dom::element e);
// True when the pre-tokenizer (or the last of a Sequence) is ByteLevel.
bool ends_with_byte_level(simdjson::dom::element e);

}  // namespace delib::tok
