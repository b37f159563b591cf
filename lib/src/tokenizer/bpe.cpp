// The BPE model: vocabulary and merge maps, and the merge loop with its per-word cache.
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "delib/error.h"
#include "tokenizer/internal.h"

namespace delib::tok {

// ---- StringIdMap -------------------------------------------------------------------------

void StringIdMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  if (cap > slots_.size()) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{});
    count_ = 0;
    for (auto& s : old) {
      if (s.id < 0) continue;
      size_t mask = slots_.size() - 1;
      for (size_t i = s.hash & mask;; i = (i + 1) & mask) {
        if (slots_[i].id < 0) {
          slots_[i] = s;
          ++count_;
          break;
        }
      }
    }
  }
}

void StringIdMap::grow() { reserve(std::max<size_t>(16, count_ * 2 + 2)); }

void StringIdMap::set(std::string_view key, int32_t id) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  uint64_t h = XXH3_64bits(key.data(), key.size());
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.id < 0) {
      s.hash = h;
      s.off = uint32_t(keys_.size());
      s.len = uint32_t(key.size());
      s.id = id;
      keys_.append(key);
      ++count_;
      return;
    }
    if (s.hash == h && s.len == key.size() && std::string_view(keys_.data() + s.off, s.len) == key) {
      s.id = id;
      return;
    }
  }
}

std::optional<int32_t> StringIdMap::get(std::string_view key) const {
  if (slots_.empty()) return std::nullopt;
  uint64_t h = XXH3_64bits(key.data(), key.size());
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id < 0) return std::nullopt;
    if (s.hash == h && s.len == key.size() && std::string_view(keys_.data() + s.off, s.len) == key) return s.id;
  }
}

// ---- MergeMap ----------------------------------------------------------------------------

void MergeMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  slots_.assign(cap, Slot{});
  count_ = 0;
}

void MergeMap::set(int32_t a, int32_t b, int32_t rank, int32_t new_id) {
  if (slots_.empty() || (count_ + 1) * 2 > slots_.size()) {
    std::vector<Slot> old;
    old.swap(slots_);
    reserve(std::max<size_t>(16, count_ * 2 + 2));
    for (auto& s : old) {
      if (s.rank >= 0) set(int32_t(s.key >> 32), int32_t(uint32_t(s.key)), s.rank, s.new_id);
    }
  }
  uint64_t key = (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  size_t mask = slots_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.rank < 0) {
      s = {key, rank, new_id};
      ++count_;
      return;
    }
    if (s.key == key) {  // a repeated merge: the later line wins, as in tokenizers' HashMap
      s.rank = rank;
      s.new_id = new_id;
      return;
    }
  }
}

// ---- Bpe ---------------------------------------------------------------------------------

Bpe::Bpe() : cache_(new Shard[kShards]) {
  byte_fallback_id.fill(-1);
  byte_unit_id.fill(-1);
}

Bpe::~Bpe() = default;

void Bpe::enable_byte_mode() {
  byte_mode = true;
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    utf8_append(bytes_char(uint8_t(b)), ch);
    if (auto id = vocab.get(ch)) byte_unit_id[b] = *id;
  }
}

// One unit (a character, or in byte mode one byte shown as its byte-level character) of a
// word: its vocabulary id, else its bytes as <0xXX> tokens (byte_fallback), else unk
// (consecutive unks fused when fuse_unk). Transcribes tokenizers' BPE::merge_word, including
// its ordering quirk: a pending unk is emitted only before the next known unit.
void Bpe::add_unit(std::string_view unit, bool is_first, bool is_last, std::vector<Symbol>& syms,
                   std::optional<std::pair<int32_t, uint32_t>>& unk) const {
  auto push = [&](int32_t id, uint32_t len) {
    int32_t idx = int32_t(syms.size());
    syms.push_back({id, idx - 1, idx + 1, len});
  };
  uint32_t byte_len = uint32_t(unit.size());
  std::optional<int32_t> id;
  std::string s;  // the looked-up string (with prefix/suffix); in byte mode the mapped char
  if (byte_mode) {
    int32_t u = byte_unit_id[static_cast<unsigned char>(unit[0])];
    if (u >= 0) id = u;
    utf8_append(bytes_char(static_cast<unsigned char>(unit[0])), s);
  } else {
    bool affix = (!is_first && !continuing_subword_prefix.empty()) || (is_last && !end_of_word_suffix.empty());
    if (!affix) {
      id = vocab.get(unit);
      if (!id) s.assign(unit);
    } else {
      if (!is_first) s += continuing_subword_prefix;
      s += unit;
      if (is_last) s += end_of_word_suffix;
      id = vocab.get(s);
    }
  }
  if (id) {
    if (unk) {
      push(unk->first, unk->second);
      unk.reset();
    }
    push(*id, byte_len);
    return;
  }
  if (byte_fallback) {
    bool all = true;
    for (unsigned char c : s) all = all && byte_fallback_id[c] >= 0;
    if (all) {
      for (unsigned char c : s) push(byte_fallback_id[c], 1);
      return;
    }
  }
  if (unk_id) {
    if (unk && fuse_unk) {
      unk->second += byte_len;
    } else {
      if (unk) push(unk->first, unk->second);
      unk = std::make_pair(*unk_id, byte_len);
    }
  }
}

void Bpe::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> syms;
  syms.clear();
  std::optional<std::pair<int32_t, uint32_t>> unk;
  if (byte_mode) {
    // Fast path: every byte is a unit whose id is a table lookup.
    bool all_known = true;
    for (unsigned char c : word) all_known = all_known && byte_unit_id[c] >= 0;
    if (all_known) {
      for (size_t i = 0; i < word.size(); ++i) {
        syms.push_back({byte_unit_id[static_cast<unsigned char>(word[i])], int32_t(i) - 1, int32_t(i) + 1, 1});
      }
    } else {
      for (size_t i = 0; i < word.size(); ++i) {
        add_unit(word.substr(i, 1), i == 0, i + 1 == word.size(), syms, unk);
      }
    }
  } else {
    for (size_t i = 0; i < word.size();) {
      size_t len = std::min(utf8_seq_len(static_cast<unsigned char>(word[i])), word.size() - i);
      add_unit(word.substr(i, len), i == 0, i + len == word.size(), syms, unk);
      i += len;
    }
  }
  if (unk) {
    int32_t idx = int32_t(syms.size());
    syms.push_back({unk->first, idx - 1, idx + 1, unk->second});
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  // Word::merge_all. Queue entries are (rank, position): the lowest rank first, and the
  // leftmost among equal ranks. An entry is stale when its left symbol was merged away or
  // its pair no longer produces the recorded id; stale entries are skipped when popped.
  struct Entry {
    int32_t rank, pos, new_id;
    bool operator<(const Entry& o) const {  // std::priority_queue pops the largest
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  thread_local std::vector<Entry> heap;
  heap.clear();
  int32_t rank, new_id;
  for (size_t i = 0; i + 1 < syms.size(); ++i) {
    if (merges.get(syms[i].id, syms[i + 1].id, rank, new_id)) heap.push_back({rank, int32_t(i), new_id});
  }
  std::make_heap(heap.begin(), heap.end());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    Entry top = heap.back();
    heap.pop_back();
    Symbol& cur = syms[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    int32_t next_pos = cur.next;
    Symbol right = syms[next_pos];
    if (!merges.get(cur.id, right.id, rank, new_id) || new_id != top.new_id) continue;
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    syms[next_pos].len = 0;
    if (right.next >= 0 && size_t(right.next) < syms.size()) syms[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (merges.get(syms[cur.prev].id, cur.id, rank, new_id)) {
        heap.push_back({rank, cur.prev, new_id});
        std::push_heap(heap.begin(), heap.end());
      }
    }
    if (cur.next >= 0 && size_t(cur.next) < syms.size()) {
      if (merges.get(cur.id, syms[cur.next].id, rank, new_id)) {
        heap.push_back({rank, top.pos, new_id});
        std::push_heap(heap.begin(), heap.end());
      }
    }
  }
  for (auto& s : syms) {
    if (s.len != 0) out.push_back(s.id);
  }
}

void Bpe::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges) {
    auto id = byte_mode ? byte_vocab.get(word) : vocab.get(word);
    if (id) {
      out.push_back(*id);
      return;
    }
  }
  if (word.size() == 1 && byte_mode && byte_unit_id[static_cast<unsigned char>(word[0])] >= 0) {
    out.push_back(byte_unit_id[static_cast<unsigned char>(word[0])]);
    return;
  }
  if (word.size() > kMaxKey) return merge_word(word, out);
  uint64_t h = XXH3_64bits(word.data(), word.size());
  Shard& shard = cache_[(h >> 32) % kShards];
  Entry& e = shard.slots[h % kSlots];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (e.n_ids && e.hash == h && e.key_len == word.size() && std::memcmp(e.key, word.data(), word.size()) == 0) {
      out.insert(out.end(), e.ids, e.ids + e.n_ids);
      return;
    }
  }
  size_t mark = out.size();
  merge_word(word, out);
  size_t n = out.size() - mark;
  if (n == 0 || n > kMaxIds) return;
  std::lock_guard<std::mutex> lock(shard.mu);
  e.hash = h;
  e.key_len = uint8_t(word.size());
  std::memcpy(e.key, word.data(), word.size());
  e.n_ids = uint8_t(n);
  std::copy(out.begin() + long(mark), out.end(), e.ids);
}

}  // namespace delib::tok
