// Tokenizer::load and the encode/decode pipeline (see internal.h for the stages).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>

#include "delib/error.h"
#include "delib/records.h"
#include "delib/tokenizer.h"
#include "tokenizer/internal.h"

namespace delib {

namespace fs = std::filesystem;
using namespace tok;

namespace {

using simdjson::dom::element;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

// Leftmost-longest multi-pattern matcher (what tokenizers builds with aho-corasick
// MatchKind::LeftmostLongest): the match that starts first, and the longest one there.
class Matcher {
 public:
  void add(std::string_view pattern, int32_t token_index) {
    if (pattern.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    first_[static_cast<unsigned char>(pattern[0])] = true;
    size_t n = 0;
    for (unsigned char c : pattern) {
      auto& edges = nodes_[n].edges;
      auto it = std::find_if(edges.begin(), edges.end(), [&](auto& e) { return e.first == c; });
      if (it == edges.end()) {
        edges.emplace_back(c, int32_t(nodes_.size()));
        size_t next = nodes_.size();
        nodes_.emplace_back();
        n = next;
      } else {
        n = size_t(it->second);
      }
    }
    if (nodes_[n].token < 0) nodes_[n].token = token_index;  // first pattern wins on duplicates
  }
  bool empty() const { return nodes_.empty(); }
  // Next match at or after `pos`: sets [start, end) and the token index; false when none.
  bool next(std::string_view s, size_t pos, size_t& start, size_t& end, int32_t& token) const {
    if (nodes_.empty()) return false;
    for (size_t i = pos; i < s.size(); ++i) {
      if (!first_[static_cast<unsigned char>(s[i])]) continue;
      size_t n = 0;
      int32_t best = -1;
      size_t best_end = 0;
      for (size_t j = i; j < s.size(); ++j) {
        unsigned char c = static_cast<unsigned char>(s[j]);
        auto& edges = nodes_[n].edges;
        auto it = std::find_if(edges.begin(), edges.end(), [&](auto& e) { return e.first == c; });
        if (it == edges.end()) break;
        n = size_t(it->second);
        if (nodes_[n].token >= 0) {
          best = nodes_[n].token;
          best_end = j + 1;
        }
      }
      if (best >= 0) {
        start = i;
        end = best_end;
        token = best;
        return true;
      }
    }
    return false;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> edges;
    int32_t token = -1;
  };
  std::vector<Node> nodes_;
  bool first_[256] = {};
};

struct Split {
  size_t a, b;
  int32_t id;  // -1: text
};

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t j = s.size() - 1;
  while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
  return is_word_char(utf8_next(s, j));
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  return is_word_char(utf8_next(s, i));
}

class HfTokenizer final : public Tokenizer {
 public:
  void load_json(const std::string& json_text, const std::string& where);
  void load_config(const std::string& dir);

  std::vector<int32_t> encode(std::string_view text, bool parse_special) const override {
    std::vector<int32_t> ids;
    encode_into(text, parse_special, ids);
    return ids;
  }
  std::vector<int32_t> encode_guarded(std::string_view text,
                                      const std::vector<std::pair<size_t, size_t>>& literal) const override {
    std::vector<int32_t> ids;
    encode_into(text, true, ids, &literal);
    return ids;
  }
  std::vector<std::pair<size_t, size_t>> special_text(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts, bool parse_special,
                                                 int threads) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  std::optional<int32_t> token_id(std::string_view token) const override {
    if (auto id = added_ids_.get(token)) return id;
    return bpe_.vocab.get(token);
  }
  std::string id_to_token(int32_t id) const override {
    if (const std::string* t = token_str(id)) return *t;
    return "";
  }
  bool is_special(int32_t id) const override {
    const std::string* t = token_str(id);
    return t && special_set_.get(*t).has_value();
  }
  const std::vector<std::string>& special_tokens() const override { return special_list_; }
  std::optional<int32_t> bos_id() const override { return bos_; }
  std::optional<int32_t> eos_id() const override { return eos_; }
  std::optional<int32_t> pad_id() const override { return pad_; }
  const std::string& chat_template() const override { return chat_template_; }

 private:
  Bpe bpe_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<AddedToken> added_;
  std::unordered_map<int32_t, size_t> added_by_id_;
  StringIdMap added_ids_;    // content -> id
  StringIdMap special_set_;  // content of special tokens
  std::vector<std::string> special_list_;
  Matcher raw_matcher_, normalized_matcher_;
  int32_t vocab_size_ = 0;
  std::optional<int32_t> bos_, eos_, pad_;
  std::string chat_template_;

  const std::string* token_str(int32_t id) const {
    auto it = added_by_id_.find(id);
    if (it != added_by_id_.end()) return &added_[it->second].content;
    if (id >= 0 && size_t(id) < bpe_.id_to_token.size() && !bpe_.id_to_token[size_t(id)].empty()) {
      return &bpe_.id_to_token[size_t(id)];
    }
    return nullptr;
  }
  using Ranges = std::vector<std::pair<size_t, size_t>>;
  // `guard`: special matches overlapping these ranges (offsets of `s` + base) stay text.
  void find_matches(std::string_view s, const Matcher& m, bool parse_special, std::vector<Split>& out,
                    const Ranges* guard = nullptr, size_t base = 0) const;
  void encode_into(std::string_view text, bool parse_special, std::vector<int32_t>& ids,
                   const Ranges* guard = nullptr) const;
  void encode_segment(std::string_view seg, bool at_origin, bool parse_special, std::vector<int32_t>& ids,
                      const Ranges* guard, size_t base) const;
};

// AddedVocabulary::find_matches. With parse_special false, matches of special tokens are
// skipped and their text stays text: tokenizers' `encode_special_tokens = true`.
void HfTokenizer::find_matches(std::string_view s, const Matcher& m, bool parse_special, std::vector<Split>& out,
                               const Ranges* guard, size_t base) const {
  size_t start_offset = 0, pos = 0, start, stop;
  int32_t index;
  while (m.next(s, pos, start, stop, index)) {
    pos = stop;
    const AddedToken& t = added_[size_t(index)];
    if (!parse_special && t.special) continue;
    if (guard && t.special) {
      bool overlaps = false;
      for (auto [ga, gb] : *guard) overlaps = overlaps || (base + start < gb && ga < base + stop);
      if (overlaps) continue;
    }
    if (t.single_word) {
      bool start_space = start == 0 || !ends_with_word(s.substr(0, start));
      bool stop_space = stop == s.size() || !starts_with_word(s.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      // regex \s*$ on s[..start]: the start of the trailing whitespace run.
      size_t newstart = start;
      while (newstart > 0) {
        size_t j = newstart - 1;
        while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
        size_t k = j;
        if (!is_white_space(utf8_next(s, k))) break;
        newstart = j;
      }
      start = std::max(newstart, start_offset);
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        size_t k = stop;
        if (!is_white_space(utf8_next(s, k))) break;
        stop = k;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, t.id});
    start_offset = stop;
  }
  if (start_offset != s.size()) out.push_back({start_offset, s.size(), -1});
}

void HfTokenizer::encode_segment(std::string_view seg, bool at_origin, bool parse_special,
                                 std::vector<int32_t>& ids, const Ranges* guard, size_t base) const {
  Arena arena;
  std::string_view text = seg;
  if (normalizer_) {
    std::string n(seg);
    normalizer_->normalize(n);
    text = arena.keep(std::move(n));
  }
  std::vector<Split> splits;
  // Normalized offsets no longer map to the input: guard the whole segment (conservative).
  Ranges whole;
  if (guard) {
    for (auto [ga, gb] : *guard) {
      if (base < gb && ga < base + seg.size()) whole.assign(1, {0, text.size()});
    }
  }
  if (normalized_matcher_.empty()) {
    if (!text.empty()) splits.push_back({0, text.size(), -1});
  } else {
    find_matches(text, normalized_matcher_, parse_special, splits, guard ? &whole : nullptr, 0);
  }
  std::vector<Piece> pieces;
  for (const Split& sp : splits) {
    if (sp.id >= 0) {
      ids.push_back(sp.id);
      continue;
    }
    if (sp.b == sp.a) continue;
    pieces.clear();
    pieces.push_back({text.substr(sp.a, sp.b - sp.a), at_origin && sp.a == 0});
    if (pre_tokenizer_) pre_tokenizer_->split(pieces, arena);
    for (const Piece& p : pieces) bpe_.tokenize(p.s, ids);
  }
}

void HfTokenizer::encode_into(std::string_view text, bool parse_special, std::vector<int32_t>& ids,
                              const Ranges* guard) const {
  size_t bad = utf8_invalid_at(text);
  if (bad != std::string_view::npos) {
    throw Error("tokenizer: text is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  if (raw_matcher_.empty()) return encode_segment(text, true, parse_special, ids, guard, 0);
  std::vector<Split> splits;
  find_matches(text, raw_matcher_, parse_special, splits, guard, 0);
  for (const Split& sp : splits) {
    if (sp.id >= 0) {
      ids.push_back(sp.id);
    } else if (sp.b > sp.a) {
      encode_segment(text.substr(sp.a, sp.b - sp.a), sp.a == 0, parse_special, ids, guard, sp.a);
    }
  }
}

std::vector<std::pair<size_t, size_t>> HfTokenizer::special_text(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (special_list_.empty()) return out;
  std::vector<Split> splits;
  if (raw_matcher_.empty()) splits.push_back({0, text.size(), -1});
  else find_matches(text, raw_matcher_, /*parse_special=*/true, splits);
  for (const Split& sp : splits) {
    if (sp.id >= 0) {
      if (added_[added_by_id_.at(sp.id)].special) out.emplace_back(sp.a, sp.b);
      continue;
    }
    if (normalized_matcher_.empty() || sp.b == sp.a) continue;
    // As encode_segment: normalized added tokens are matched on the normalized piece.
    std::string n(text.substr(sp.a, sp.b - sp.a));
    if (normalizer_) normalizer_->normalize(n);
    std::vector<Split> inner;
    find_matches(n, normalized_matcher_, /*parse_special=*/true, inner);
    for (const Split& x : inner) {
      if (x.id >= 0 && added_[added_by_id_.at(x.id)].special) {
        out.emplace_back(sp.a, sp.b);
        break;
      }
    }
  }
  return out;
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* t = token_str(id);
    if (!t) continue;  // unknown ids are skipped, as tokenizers does
    if (skip_special && special_set_.get(*t)) continue;
    tokens.push_back(*t);
  }
  std::string out;
  if (decoder_) {
    decoder_->decode_chain(tokens);
    for (auto& t : tokens) out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
  }
  return out;
}

std::vector<std::vector<int32_t>> HfTokenizer::encode_batch(const std::vector<std::string>& texts,
                                                            bool parse_special, int threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  size_t n = threads > 0 ? size_t(threads) : std::max(1u, std::thread::hardware_concurrency());
  n = std::min(n, texts.size());
  if (n <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) encode_into(texts[i], parse_special, out[i]);
    return out;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1)) < texts.size();) encode_into(texts[i], parse_special, out[i]);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = texts.size();
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::string str_field(element e, const char* key, const std::string& def = "") {
  std::string_view v;
  if (!e.is_object() || e[key].get(v)) return def;
  return std::string(v);
}

bool bool_field(element e, const char* key, bool def) {
  bool v;
  if (!e.is_object() || e[key].get(v)) return def;
  return v;
}

void HfTokenizer::load_json(const std::string& json_text, const std::string& where) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json_text).get(root)) {
    throw Error(Location{where, 0}, std::string("invalid JSON: ") + simdjson::error_message(err));
  }
  try {
    element model = root["model"];
    std::string type = str_field(model, "type", "BPE");
    if (type != "BPE") throw Error("unsupported model type '" + type + "' (delib implements BPE)");
    if (!model["dropout"].is_null()) {
      double d = 0;
      if (!model["dropout"].get(d) && d > 0) throw Error("BPE dropout is not supported (encoding must be deterministic)");
    }
    // Vocabulary.
    simdjson::dom::object vocab = model["vocab"];
    bpe_.vocab.reserve(vocab.size());
    int32_t max_id = -1;
    for (auto kv : vocab) {
      int64_t id = kv.value.get_int64();
      if (id < 0 || id > INT32_MAX) throw Error("vocab id out of range");
      bpe_.vocab.set(kv.key, int32_t(id));
      max_id = std::max(max_id, int32_t(id));
    }
    bpe_.id_to_token.assign(size_t(max_id + 1), "");
    for (auto kv : vocab) bpe_.id_to_token[size_t(kv.value.get_int64())] = std::string(kv.key);
    bpe_.continuing_subword_prefix = str_field(model, "continuing_subword_prefix");
    bpe_.end_of_word_suffix = str_field(model, "end_of_word_suffix");
    bpe_.fuse_unk = bool_field(model, "fuse_unk", false);
    bpe_.byte_fallback = bool_field(model, "byte_fallback", false);
    bpe_.ignore_merges = bool_field(model, "ignore_merges", false);
    std::string unk = str_field(model, "unk_token");
    if (!unk.empty()) {
      bpe_.unk_id = bpe_.vocab.get(unk);
      if (!bpe_.unk_id) throw Error("unk_token '" + unk + "' is not in the vocabulary");
    }
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      if (auto id = bpe_.vocab.get(name)) bpe_.byte_fallback_id[b] = *id;
    }
    // Merges: "a b" strings or ["a", "b"] pairs; rank = line number.
    simdjson::dom::array merges = model["merges"];
    bpe_.merges.reserve(merges.size());
    int32_t rank = 0;
    size_t prefix_len = bpe_.continuing_subword_prefix.size();
    for (element m : merges) {
      std::string_view a, b;
      if (m.is_string()) {
        std::string_view line = m.get_string();
        size_t sp = line.find(' ');
        if (sp == std::string_view::npos) throw Error("merge " + std::to_string(rank + 1) + " is not 'a b'");
        a = line.substr(0, sp);
        b = line.substr(sp + 1);
      } else {
        simdjson::dom::array pair = m;
        if (pair.size() != 2) throw Error("merge " + std::to_string(rank + 1) + " is not a pair");
        a = pair.at(0).get_string();
        b = pair.at(1).get_string();
      }
      auto ia = bpe_.vocab.get(a), ib = bpe_.vocab.get(b);
      std::string merged(a);
      merged += prefix_len && b.size() >= prefix_len ? b.substr(prefix_len) : b;
      auto im = bpe_.vocab.get(merged);
      if (!ia || !ib || !im) {
        throw Error("merge " + std::to_string(rank + 1) + " ('" + std::string(a) + "' '" + std::string(b) +
                    "') uses a token that is not in the vocabulary");
      }
      bpe_.merges.set(*ia, *ib, rank, *im);
      ++rank;
    }

    element pre = root["pre_tokenizer"];
    bool byte_mode = ends_with_byte_level(pre) && bpe_.continuing_subword_prefix.empty() &&
                     bpe_.end_of_word_suffix.empty();
    normalizer_ = make_normalizer(root["normalizer"]);
    pre_tokenizer_ = make_pre_tokenizer(pre, byte_mode);
    decoder_ = make_decoder(root["decoder"]);
    if (byte_mode) {
      bpe_.enable_byte_mode();
      bpe_.byte_vocab.reserve(vocab.size());
      for (auto kv : vocab) {
        std::string_view tok = kv.key;
        std::string bytes;
        bool ok = true;
        for (size_t i = 0; i < tok.size() && ok;) {
          int b = byte_of_char(utf8_next(tok, i));
          if (b < 0) ok = false;
          else bytes += char(b);
        }
        if (ok) bpe_.byte_vocab.set(bytes, int32_t(kv.value.get_int64()));
      }
    }

    // Added tokens.
    simdjson::dom::array added;
    if (!root["added_tokens"].get(added)) {
      for (element t : added) {
        AddedToken a;
        a.id = int32_t(t["id"].get_int64());
        a.content = std::string(t["content"].get_string().value());
        a.special = bool_field(t, "special", false);
        a.normalized = bool_field(t, "normalized", !a.special);
        a.lstrip = bool_field(t, "lstrip", false);
        a.rstrip = bool_field(t, "rstrip", false);
        a.single_word = bool_field(t, "single_word", false);
        if (a.content.empty()) continue;
        // tokenizers gives an added token that is already in the model vocabulary that id.
        if (auto vid = bpe_.vocab.get(a.content)) a.id = *vid;
        max_id = std::max(max_id, a.id);
        added_ids_.set(a.content, a.id);
        // ... and shows a normalized token as its normalized form (id_to_token, decode).
        if (a.normalized && normalizer_) {
          normalizer_->normalize(a.content);
          added_ids_.set(a.content, a.id);
        }
        if (a.special) {
          special_set_.set(a.content, a.id);
          special_list_.push_back(a.content);
        }
        added_by_id_[a.id] = added_.size();
        added_.push_back(std::move(a));
      }
    }
    // tokenizers orders the patterns special tokens first, then the others; on identical
    // content the first wins.
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < added_.size(); ++i) {
        const AddedToken& a = added_[i];
        if (a.special != (pass == 0)) continue;
        if (!a.normalized) {
          raw_matcher_.add(a.content, int32_t(i));
        } else {
          normalized_matcher_.add(a.content, int32_t(i));  // already normalized above
        }
      }
    }
    vocab_size_ = max_id + 1;
  } catch (const simdjson::simdjson_error& e) {
    throw Error(Location{where, 0}, std::string("malformed tokenizer.json: ") + e.what());
  } catch (const Error& e) {
    if (!e.where().file.empty()) throw;
    std::string msg = e.what();
    if (msg.rfind("tokenizer.json: ", 0) == 0) msg = msg.substr(16);
    throw Error(Location{where, 0}, msg, e.exit_code());
  }
}

// The fields delib reads from tokenizer_config.json / special_tokens_map.json. Parsed with
// simdjson On-Demand, which skips what it does not read: these files carry numbers such as
// model_max_length = 1000000000000000019884624838656 that a DOM parse rejects.
struct ConfigValues {
  std::optional<std::string> bos, eos, pad;
  std::optional<std::string> chat_template;
};

ConfigValues read_config(const std::string& path) {
  ConfigValues v;
  if (!fs::exists(path)) return v;
  simdjson::padded_string text(read_file_decompressed(path));
  try {
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document doc = parser.iterate(text);
    // A special-token entry: a string, or an AddedToken object with "content".
    auto token_entry = [](simdjson::ondemand::value val) -> std::optional<std::string> {
      if (val.type() == simdjson::ondemand::json_type::string) return std::string(std::string_view(val.get_string()));
      if (val.type() == simdjson::ondemand::json_type::object) {
        for (auto f : val.get_object()) {
          if (std::string_view(f.unescaped_key()) == "content") {
            simdjson::ondemand::value c = f.value();
            if (c.type() == simdjson::ondemand::json_type::string) return std::string(std::string_view(c.get_string()));
          }
        }
      }
      return std::nullopt;
    };
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key();
      simdjson::ondemand::value val = field.value();
      if (key == "bos_token") v.bos = token_entry(val);
      else if (key == "eos_token") v.eos = token_entry(val);
      else if (key == "pad_token") v.pad = token_entry(val);
      else if (key == "chat_template") {
        if (val.type() == simdjson::ondemand::json_type::string) {
          v.chat_template = std::string(std::string_view(val.get_string()));
        } else if (val.type() == simdjson::ondemand::json_type::array) {
          // A list of {"name", "template"}: the "default" one.
          for (auto item : val.get_array()) {
            std::string name, tmpl;
            for (auto f : item.get_object()) {
              std::string_view k = f.unescaped_key();
              if (k == "name") name = std::string(std::string_view(f.value().get_string()));
              else if (k == "template") tmpl = std::string(std::string_view(f.value().get_string()));
            }
            if (name == "default") v.chat_template = tmpl;
          }
        }
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    throw Error(Location{path, 0}, std::string("invalid JSON: ") + e.what());
  }
  return v;
}

void HfTokenizer::load_config(const std::string& dir) {
  ConfigValues cfg = read_config((fs::path(dir) / "tokenizer_config.json").string());
  ConfigValues map = read_config((fs::path(dir) / "special_tokens_map.json").string());
  auto pick = [&](const std::optional<std::string>& a, const std::optional<std::string>& b) -> std::optional<int32_t> {
    if (a) return token_id(*a);
    if (b) return token_id(*b);
    return std::nullopt;
  };
  bos_ = pick(cfg.bos, map.bos);
  eos_ = pick(cfg.eos, map.eos);
  pad_ = pick(cfg.pad, map.pad);
  if (cfg.chat_template) chat_template_ = *cfg.chat_template;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> Tokenizer::special_text(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t pos = 0; pos < text.size();) {
    size_t best = std::string_view::npos, len = 0;
    for (const std::string& s : special_tokens()) {
      if (s.empty()) continue;
      size_t at = text.find(s, pos);
      if (at < best || (at == best && s.size() > len)) best = at, len = s.size();
    }
    if (best == std::string_view::npos) break;
    out.emplace_back(best, best + len);
    pos = best + len;
  }
  return out;
}

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::string& path) {
  std::string file = path, dir;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    dir = path;
    file = (fs::path(path) / "tokenizer.json").string();
    if (!fs::exists(file)) {
      std::string zst = file + ".zst";
      if (!fs::exists(zst)) {
        throw Error(Location{path, 0}, "no tokenizer.json (or tokenizer.json.zst) in this directory", kExitIo);
      }
      file = zst;
    }
  } else {
    dir = fs::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
  }
  auto t = std::make_shared<HfTokenizer>();
  t->load_json(read_file_decompressed(file), file);
  t->load_config(dir);
  return t;
}

}  // namespace delib
