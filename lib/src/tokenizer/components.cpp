// Normalizers, pre-tokenizers and decoders of tokenizer.json, each a transcription of the
// corresponding `tokenizers` (Rust, v0.23) component; the Rust names are given where the
// behaviour is subtle.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <cstring>

#include "delib/error.h"
#include "tokenizer/internal.h"

namespace delib::tok {

// ---- UTF-8 -------------------------------------------------------------------------------

namespace {

// Length of the well-formed UTF-8 sequence at s[i], or the length of its maximal invalid
// prefix negated (at least -1). Table 3-7 of the Unicode Standard (well-formed byte sequences).
int utf8_check(const unsigned char* s, size_t n, size_t i) {
  unsigned char b = s[i];
  if (b < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b == 0xE0) {
    need = 2, lo = 0xA0;
  } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
    need = 2;
  } else if (b == 0xED) {
    need = 2, hi = 0x9F;
  } else if (b == 0xF0) {
    need = 3, lo = 0x90;
  } else if (b >= 0xF1 && b <= 0xF3) {
    need = 3;
  } else if (b == 0xF4) {
    need = 3, hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= n) return -k;
    unsigned char c = s[i + k];
    if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -k;
  }
  return need + 1;
}

}  // namespace

size_t utf8_invalid_at(std::string_view s) {
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    int r = utf8_check(p, n, i);
    if (r < 0) return i;
    i += size_t(r);
  }
  return std::string_view::npos;
}

uint32_t utf8_next(std::string_view s, size_t& i) {
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  unsigned char b = p[i];
  if (b < 0x80) return p[i++];
  if ((b >> 5) == 0x6) {
    uint32_t cp = (uint32_t(b & 0x1F) << 6) | (p[i + 1] & 0x3F);
    i += 2;
    return cp;
  }
  if ((b >> 4) == 0xE) {
    uint32_t cp = (uint32_t(b & 0x0F) << 12) | (uint32_t(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
    i += 3;
    return cp;
  }
  uint32_t cp = (uint32_t(b & 0x07) << 18) | (uint32_t(p[i + 1] & 0x3F) << 12) |
                (uint32_t(p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
  i += 4;
  return cp;
}


std::string utf8_lossy(std::string_view bytes) {
  auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size(), i = 0;
  std::string out;
  out.reserve(n);
  while (i < n) {
    int r = utf8_check(p, n, i);
    if (r > 0) {
      out.append(bytes.data() + i, size_t(r));
      i += size_t(r);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the maximal invalid subpart
      i += size_t(-r);
    }
  }
  return out;
}

bool is_white_space(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13);
  if (cp == 0x85) return true;
  auto c = utf8proc_category(utf8proc_int32_t(cp));
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

bool is_word_char(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
                        (cp >= 'A' && cp <= 'Z') || cp == '_';
  if (cp == 0x200C || cp == 0x200D) return true;
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// ---- Byte-level alphabet (GPT-2 bytes_to_unicode) ------------------------------------------
//
// Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68
// bytes map, in byte order, to U+0100, U+0101, ...

namespace {
struct ByteTables {
  uint32_t to_char[256];
  int16_t from_char[0x200];  // byte-level characters are all below U+0144
  ByteTables() {
    for (auto& f : from_char) f = -1;
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_char[b] = printable ? uint32_t(b) : next++;
      from_char[to_char[b]] = int16_t(b);
    }
  }
};
const ByteTables& byte_tables() {
  static const ByteTables t;
  return t;
}
}  // namespace

uint32_t bytes_char(uint8_t b) { return byte_tables().to_char[b]; }
int byte_of_char(uint32_t cp) { return cp < 0x200 ? byte_tables().from_char[cp] : -1; }

// ---- Regex -------------------------------------------------------------------------------

namespace {
// Per-thread PCRE2 match state: match data (one ovector pair is all we read), and a JIT stack
// large enough for long runs of the look-ahead alternatives.
struct MatchState {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mc = nullptr;
  pcre2_jit_stack* js = nullptr;
  MatchState() {
    md = pcre2_match_data_create(1, nullptr);
    mc = pcre2_match_context_create(nullptr);
    js = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    pcre2_jit_stack_assign(mc, nullptr, js);
  }
  ~MatchState() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_jit_stack_free(js);
  }
};
MatchState& match_state() {
  thread_local MatchState st;
  return st;
}
}  // namespace

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE erroff = 0;
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP, &err, &erroff, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    throw Error("tokenizer: cannot compile regex '" + pattern + "' at offset " +
                std::to_string(erroff) + ": " + reinterpret_cast<char*>(buf));
  }
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  auto& st = match_state();
  auto* code = static_cast<pcre2_code*>(code_);
  auto subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t n = s.size(), pos = 0;
  while (pos <= n) {
    int rc = jit_ ? pcre2_jit_match(code, subject, n, pos, 0, st.md, st.mc)
                  : pcre2_match(code, subject, n, pos, PCRE2_NO_UTF_CHECK, st.md, st.mc);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof buf);
      throw Error("tokenizer: regex '" + pattern_ + "' failed: " + reinterpret_cast<char*>(buf));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md);
    size_t a = ov[0], b = ov[1];
    out.emplace_back(a, b);
    if (b > a) {
      pos = b;
    } else {
      if (b >= n) break;
      pos = b + utf8_seq_len(static_cast<unsigned char>(s[b]));
    }
  }
}

Pattern Pattern::literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

Pattern Pattern::regex(const std::string& re) {
  Pattern p;
  p.regex_ = std::make_shared<Regex>(re);
  return p;
}

void Pattern::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  if (regex_) return regex_->find_all(s, out);
  if (literal_.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(literal_, pos)) != std::string_view::npos) {
    out.emplace_back(pos, pos + literal_.size());
    pos += literal_.size();
  }
}

// ---- JSON helpers ------------------------------------------------------------------------

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

std::string type_of(element e, const char* what) {
  std::string_view t;
  if (!e.is_object() || e["type"].get(t)) {
    throw Error(std::string("tokenizer.json: ") + what + " without a \"type\"");
  }
  return std::string(t);
}

bool get_bool(element e, const char* key, bool def) {
  bool v;
  if (!e.is_object() || e[key].get(v)) return def;
  return v;
}

std::string get_str(element e, const char* key, const std::string& def = "") {
  std::string_view v;
  if (!e.is_object() || e[key].get(v)) return def;
  return std::string(v);
}

int64_t get_int(element e, const char* key, int64_t def) {
  int64_t v;
  if (!e.is_object() || e[key].get(v)) {
    uint64_t u;
    if (e.is_object() && !e[key].get(u)) return int64_t(u);
    return def;
  }
  return v;
}

// {"String": "..."} or {"Regex": "..."}.
Pattern parse_pattern(element e, const char* what) {
  std::string_view v;
  if (e.is_object()) {
    if (!e["String"].get(v)) return Pattern::literal(std::string(v));
    if (!e["Regex"].get(v)) return Pattern::regex(std::string(v));
  }
  throw Error(std::string("tokenizer.json: ") + what + ": pattern must be {\"String\"} or {\"Regex\"}");
}

uint32_t single_char(const std::string& s, const char* what) {
  size_t i = 0;
  if (s.empty() || utf8_invalid_at(s) != std::string_view::npos) {
    throw Error(std::string("tokenizer.json: ") + what + ": expected one character");
  }
  uint32_t cp = utf8_next(s, i);
  if (i != s.size()) throw Error(std::string("tokenizer.json: ") + what + ": expected one character");
  return cp;
}

// ---- Normalizers -------------------------------------------------------------------------

bool all_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// True when NFC certainly leaves `s` unchanged: every character is a starter (combining
// class 0) without a canonical decomposition that cannot combine with a preceding character
// (utf8proc's comb_index >= 0x8000 marks possible second characters), and no Hangul jamo
// (composed algorithmically). A conservative form of the NFC_Quick_Check of UAX #15: when it
// says no, the full normalization runs.
bool nfc_stable(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp = utf8_next(s, i);
    if (cp < 0x300) continue;  // Latin-1 and Latin Extended: starters, nothing combines into them backwards
    if (cp >= 0x1100 && cp <= 0x11FF) return false;
    const utf8proc_property_t* p = utf8proc_get_property(utf8proc_int32_t(cp));
    if (p->combining_class != 0) return false;
    if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) return false;
    if (p->comb_index != UINT16_MAX && p->comb_index >= 0x8000) return false;
  }
  return true;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void normalize(std::string& s) const override {
    if (all_ascii(s)) return;  // ASCII is invariant under NFC/NFD/NFKC/NFKD
    if (options_ == (UTF8PROC_STABLE | UTF8PROC_COMPOSE) && nfc_stable(s)) return;
    utf8proc_uint8_t* out = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                          utf8proc_ssize_t(s.size()), &out, utf8proc_option_t(options_));
    if (n < 0) throw Error(std::string("tokenizer: normalization failed: ") + utf8proc_errmsg(n));
    s.assign(reinterpret_cast<char*>(out), size_t(n));
    free(out);
  }

 private:
  int options_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  // Rust char::to_lowercase per character: the simple mapping, except U+0130 (İ) whose full
  // lowercase is "i" + U+0307. No context (final sigma stays σ), as tokenizers does it.
  void normalize(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      uint32_t cp = utf8_next(s, i);
      if (cp == 0x130) {
        out += "i\xCC\x87";
      } else {
        utf8_append(uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))), out);
      }
    }
    s.swap(out);
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    size_t a = 0, b = s.size();
    if (left_) {
      while (a < b) {
        size_t j = a;
        if (!is_white_space(utf8_next(s, j))) break;
        a = j;
      }
    }
    if (right_) {
      while (b > a) {
        size_t j = b - 1;
        while (j > a && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
        size_t k = j;
        if (!is_white_space(utf8_next(s, k))) break;
        b = j;
      }
    }
    s = s.substr(a, b - a);
  }

 private:
  bool left_, right_;
};

class StripAccentsNormalizer : public Normalizer {
 public:
  // Drops General_Category=Mark characters (unicode-normalization's is_combining_mark).
  void normalize(std::string& s) const override {
    if (all_ascii(s)) return;
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      size_t start = i;
      uint32_t cp = utf8_next(s, i);
      auto c = utf8proc_category(utf8proc_int32_t(cp));
      if (c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME) continue;
      out.append(s, start, i - start);
    }
    s.swap(out);
  }
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern p, std::string content) : pattern_(std::move(p)), content_(std::move(content)) {}
  void normalize(std::string& s) const override {
    std::vector<std::pair<size_t, size_t>> m;
    pattern_.find_all(s, m);
    if (m.empty()) return;
    std::string out;
    out.reserve(s.size() + m.size() * content_.size());
    size_t last = 0;
    for (auto [a, b] : m) {
      out.append(s, last, a - last);
      out += content_;
      last = b;
    }
    out.append(s, last, std::string::npos);
    s.swap(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> n) : items_(std::move(n)) {}
  void normalize(std::string& s) const override {
    for (auto& n : items_) n->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

// ---- Pre-tokenizers ----------------------------------------------------------------------

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const std::string& b) {
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  throw Error("tokenizer.json: unsupported Split behavior '" + b + "'");
}

// NormalizedString::split: `matches` are the pattern's matches in `p`; together with the
// gaps between them they cover `p`, and `behavior` decides what becomes of each match.
void split_piece(const Piece& p, const std::vector<std::pair<size_t, size_t>>& matches,
                 bool invert, Behavior behavior, std::vector<Piece>& out) {
  struct Part {
    size_t a, b;
    bool is_match;
  };
  // Pattern::find_matches: gaps and matches in order (an empty input is one empty gap).
  thread_local std::vector<Part> parts;
  parts.clear();
  size_t prev = 0, n = p.s.size();
  for (auto [a, b] : matches) {
    if (prev != a) parts.push_back({prev, a, invert});
    parts.push_back({a, b, !invert});
    prev = b;
  }
  if (prev != n) parts.push_back({prev, n, invert});

  thread_local std::vector<Part> res;  // is_match here means "remove"
  res.clear();
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kIsolated:
      for (auto& x : parts) res.push_back({x.a, x.b, false});
      break;
    case Behavior::kRemoved:
      res = parts;
      break;
    case Behavior::kContiguous:
      for (auto& x : parts) {
        if (x.is_match == previous_match && !res.empty()) {
          res.back().b = x.b;
        } else {
          res.push_back({x.a, x.b, false});
        }
        previous_match = x.is_match;
      }
      break;
    case Behavior::kMergedWithPrevious:
      for (auto& x : parts) {
        if (x.is_match && !previous_match && !res.empty()) {
          res.back().b = x.b;
        } else {
          res.push_back({x.a, x.b, false});
        }
        previous_match = x.is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (size_t k = parts.size(); k-- > 0;) {
        auto& x = parts[k];
        if (x.is_match && !previous_match && !res.empty()) {
          res.back().a = x.a;
        } else {
          res.push_back({x.a, x.b, false});
        }
        previous_match = x.is_match;
      }
      std::reverse(res.begin(), res.end());
      break;
  }
  for (auto& x : res) {
    if (x.is_match || x.b == x.a) continue;
    out.push_back({p.s.substr(x.a, x.b - x.a), p.at_origin && x.a == 0});
  }
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern p, Behavior b, bool invert) : pattern_(std::move(p)), behavior_(b), invert_(invert) {}
  void split(std::vector<Piece>& pieces, Arena&) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> m;
    for (auto& p : pieces) {
      m.clear();
      pattern_.find_all(p.s, m);
      split_piece(p, m, invert_, behavior_, out);
    }
    pieces.swap(out);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

// The GPT-2 pattern ByteLevel uses when use_regex is true.
const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, bool map_bytes)
      : add_prefix_space_(add_prefix_space), map_bytes_(map_bytes) {
    if (use_regex) regex_ = std::make_unique<SplitPreTokenizer>(Pattern::regex(kGpt2Pattern), Behavior::kIsolated, false);
  }
  void split(std::vector<Piece>& pieces, Arena& arena) const override {
    if (add_prefix_space_) {
      for (auto& p : pieces) {
        if (!p.s.empty() && p.s[0] != ' ') p.s = arena.keep(" " + std::string(p.s));
      }
    }
    if (regex_) regex_->split(pieces, arena);
    if (map_bytes_) {
      for (auto& p : pieces) {
        std::string m;
        m.reserve(p.s.size() * 2);
        for (unsigned char c : p.s) utf8_append(bytes_char(c), m);
        p.s = arena.keep(std::move(m));
      }
    }
    std::erase_if(pieces, [](const Piece& p) { return p.s.empty(); });
  }

 private:
  bool add_prefix_space_, map_bytes_;
  std::unique_ptr<SplitPreTokenizer> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

PrependScheme parse_prepend_scheme(element e) {
  std::string scheme = get_str(e, "prepend_scheme", "");
  if (scheme.empty()) return get_bool(e, "add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
  if (scheme == "always") return PrependScheme::kAlways;
  if (scheme == "first") return PrependScheme::kFirst;
  if (scheme == "never") return PrependScheme::kNever;
  throw Error("tokenizer.json: unsupported Metaspace prepend_scheme '" + scheme + "'");
}

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string rep, PrependScheme scheme, bool split)
      : rep_(std::move(rep)), scheme_(scheme), split_(split) {}
  void split(std::vector<Piece>& pieces, Arena& arena) const override {
    std::vector<Piece> out;
    std::vector<std::pair<size_t, size_t>> m;
    for (auto& p : pieces) {
      std::string s;
      s.reserve(p.s.size() + rep_.size());
      for (char c : p.s) {
        if (c == ' ') {
          s += rep_;
        } else {
          s += c;
        }
      }
      bool starts = s.compare(0, rep_.size(), rep_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && p.at_origin))) {
        s.insert(0, rep_);
      }
      Piece q{arena.keep(std::move(s)), p.at_origin};
      if (split_) {
        m.clear();
        Pattern::literal(rep_).find_all(q.s, m);
        split_piece(q, m, false, Behavior::kMergedWithNext, out);
      } else if (!q.s.empty()) {
        out.push_back(q);
      }
    }
    pieces.swap(out);
  }

 private:
  std::string rep_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> p) : items_(std::move(p)) {}
  void split(std::vector<Piece>& pieces, Arena& arena) const override {
    for (auto& p : items_) p->split(pieces, arena);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

// Digits: individual_digits isolates each numeric character, otherwise runs are kept
// together (Contiguous), using char::is_numeric (General_Category N*).
class DigitsPreTokenizer : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void split(std::vector<Piece>& pieces, Arena&) const override {
    std::vector<Piece> out;
    std::vector<std::pair<size_t, size_t>> m;
    for (auto& p : pieces) {
      m.clear();
      for (size_t i = 0; i < p.s.size();) {
        size_t a = i;
        uint32_t cp = utf8_next(p.s, i);
        auto c = utf8proc_category(utf8proc_int32_t(cp));
        if (c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO) m.emplace_back(a, i);
      }
      split_piece(p, m, false, individual_ ? Behavior::kIsolated : Behavior::kContiguous, out);
    }
    pieces.swap(out);
  }

 private:
  bool individual_;
};

// WhitespaceSplit: splits on char::is_whitespace, dropping the whitespace.
class WhitespaceSplitPreTokenizer : public PreTokenizer {
 public:
  void split(std::vector<Piece>& pieces, Arena&) const override {
    std::vector<Piece> out;
    std::vector<std::pair<size_t, size_t>> m;
    for (auto& p : pieces) {
      m.clear();
      for (size_t i = 0; i < p.s.size();) {
        size_t a = i;
        if (is_white_space(utf8_next(p.s, i))) m.emplace_back(a, i);
      }
      split_piece(p, m, false, Behavior::kRemoved, out);
    }
    pieces.swap(out);
  }
};

// ---- Decoders ----------------------------------------------------------------------------

class ByteLevelDecoder : public Decoder {
 public:
  // Each token's characters map back to bytes; a token with a character outside the
  // alphabet contributes its UTF-8 as is; the whole is read as lossy UTF-8 into one token.
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (auto& t : tokens) {
      size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        int b = byte_of_char(utf8_next(t, i));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes += char(b);
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(uint32_t rep, PrependScheme scheme) : rep_(rep), scheme_(scheme) {}
  // Every replacement character becomes a space, except in the first token (dropped there)
  // unless prepend_scheme is "never".
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string out;
      const std::string& t = tokens[k];
      for (size_t i = 0; i < t.size();) {
        size_t a = i;
        uint32_t cp = utf8_next(t, i);
        if (cp == rep_) {
          if (!(k == 0 && scheme_ != PrependScheme::kNever)) out += ' ';
        } else {
          out.append(t, a, i - a);
        }
      }
      tokens[k].swap(out);
    }
  }

 private:
  uint32_t rep_;
  PrependScheme scheme_;
};

class ByteFallbackDecoder : public Decoder {
 public:
  // Runs of "<0xXX>" tokens become their bytes when those form valid UTF-8, else one U+FFFD
  // per byte token.
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (utf8_invalid_at(pending) == std::string_view::npos) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        int h = hex(t[3]), l = hex(t[4]);
        if (h >= 0 && l >= 0) byte = h * 16 + l;
      }
      if (byte >= 0) {
        pending += char(byte);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(uint32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  // Removes up to `start` leading and `stop` trailing `content` characters from each token.
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<uint32_t> chars;
      for (size_t i = 0; i < t.size();) chars.push_back(utf8_next(t, i));
      size_t start_cut = 0;
      for (size_t i = 0; i < start_ && i < chars.size(); ++i) {
        if (chars[i] != content_) break;
        start_cut = i + 1;
      }
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < stop_ && i < chars.size(); ++i) {
        size_t index = chars.size() - i - 1;
        if (chars[index] != content_) break;
        stop_cut = index;
      }
      std::string out;
      for (size_t i = start_cut; i < stop_cut; ++i) utf8_append(chars[i], out);
      t.swap(out);
    }
  }

 private:
  uint32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern p, std::string content) : impl_(std::move(p), std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) impl_.normalize(t);
  }

 private:
  ReplaceNormalizer impl_;  // the same find-and-replace
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> d) : items_(std::move(d)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

// BPEDecoder: the end-of-word suffix becomes a space (the last token's is dropped).
class BpeSuffixDecoder : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : impl_(Pattern::literal(suffix), " "), suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i + 1 == tokens.size()) {
        ReplaceNormalizer(Pattern::literal(suffix_), "").normalize(t);
      } else {
        impl_.normalize(t);
      }
    }
  }

 private:
  ReplaceNormalizer impl_;
  std::string suffix_;
};

template <class T, class F>
std::vector<std::unique_ptr<T>> parse_list(element e, const char* key, const char* what, F make) {
  simdjson::dom::array arr;
  if (e[key].get(arr)) throw Error(std::string("tokenizer.json: ") + what + " Sequence without \"" + key + "\"");
  std::vector<std::unique_ptr<T>> items;
  for (element x : arr) {
    auto p = make(x);
    if (p) items.push_back(std::move(p));
  }
  return items;
}

}  // namespace

// ---- Factories ---------------------------------------------------------------------------

std::unique_ptr<Normalizer> make_normalizer(element e) {
  if (e.is_null()) return nullptr;
  std::string t = type_of(e, "normalizer");
  if (t == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (t == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (t == "NFKC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (t == "NFKD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (t == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (t == "Strip") return std::make_unique<StripNormalizer>(get_bool(e, "strip_left", true), get_bool(e, "strip_right", true));
  if (t == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (t == "Replace") return std::make_unique<ReplaceNormalizer>(parse_pattern(e["pattern"].value(), "Replace normalizer"), get_str(e, "content"));
  if (t == "Prepend") return std::make_unique<PrependNormalizer>(get_str(e, "prepend"));
  if (t == "Sequence") {
    return std::make_unique<SequenceNormalizer>(parse_list<Normalizer>(e, "normalizers", "normalizer", make_normalizer));
  }
  throw Error("tokenizer.json: unsupported normalizer type '" + t + "'");
}

bool ends_with_byte_level(element e) {
  if (e.is_null()) return false;
  std::string t = type_of(e, "pre_tokenizer");
  if (t == "ByteLevel") return true;
  if (t == "Sequence") {
    simdjson::dom::array arr;
    if (e["pretokenizers"].get(arr) || arr.size() == 0) return false;
    element last;
    for (element x : arr) last = x;
    return ends_with_byte_level(last);
  }
  return false;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(element e, bool raw_last_byte_level) {
  if (e.is_null()) return nullptr;
  std::string t = type_of(e, "pre_tokenizer");
  if (t == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(get_bool(e, "add_prefix_space", true),
                                                   get_bool(e, "use_regex", true), !raw_last_byte_level);
  }
  if (t == "Split") {
    return std::make_unique<SplitPreTokenizer>(parse_pattern(e["pattern"].value(), "Split"),
                                               parse_behavior(get_str(e, "behavior", "Isolated")),
                                               get_bool(e, "invert", false));
  }
  if (t == "Metaspace") {
    std::string rep = get_str(e, "replacement", "\xE2\x96\x81");
    single_char(rep, "Metaspace replacement");
    return std::make_unique<MetaspacePreTokenizer>(rep, parse_prepend_scheme(e), get_bool(e, "split", true));
  }
  if (t == "Sequence") {
    simdjson::dom::array arr;
    if (e["pretokenizers"].get(arr)) throw Error("tokenizer.json: pre_tokenizer Sequence without \"pretokenizers\"");
    std::vector<std::unique_ptr<PreTokenizer>> items;
    size_t n = arr.size(), k = 0;
    for (element x : arr) {
      bool last = ++k == n;
      auto p = make_pre_tokenizer(x, raw_last_byte_level && last);
      if (p) items.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(items));
  }
  if (t == "Digits") return std::make_unique<DigitsPreTokenizer>(get_bool(e, "individual_digits", false));
  if (t == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (t == "Whitespace") {
    return std::make_unique<SplitPreTokenizer>(Pattern::regex("\\w+|[^\\w\\s]+"), Behavior::kRemoved, true);
  }
  throw Error("tokenizer.json: unsupported pre_tokenizer type '" + t + "'");
}

std::unique_ptr<Decoder> make_decoder(element e) {
  if (e.is_null()) return nullptr;
  std::string t = type_of(e, "decoder");
  if (t == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (t == "Metaspace") {
    std::string rep = get_str(e, "replacement", "\xE2\x96\x81");
    return std::make_unique<MetaspaceDecoder>(single_char(rep, "Metaspace replacement"), parse_prepend_scheme(e));
  }
  if (t == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (t == "Fuse") return std::make_unique<FuseDecoder>();
  if (t == "Strip") {
    return std::make_unique<StripDecoder>(single_char(get_str(e, "content", " "), "Strip content"),
                                          size_t(get_int(e, "start", 0)), size_t(get_int(e, "stop", 0)));
  }
  if (t == "Replace") {
    return std::make_unique<ReplaceDecoder>(parse_pattern(e["pattern"].value(), "Replace decoder"), get_str(e, "content"));
  }
  if (t == "BPEDecoder") return std::make_unique<BpeSuffixDecoder>(get_str(e, "suffix", "</w>"));
  if (t == "Sequence") {
    return std::make_unique<SequenceDecoder>(parse_list<Decoder>(e, "decoders", "decoder", make_decoder));
  }
  throw Error("tokenizer.json: unsupported decoder type '" + t + "'");
}

}  // namespace delib::tok
