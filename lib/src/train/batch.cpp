// Packing examples into batches, and the per-epoch order (delib/train.h).
#include <random>

#include "delib/error.h"
#include "delib/train.h"

namespace delib::train {

int64_t TokenizedExample::num_targets() const {
  int64_t n = 0;
  for (int32_t l : labels) n += l != kIgnoreIndex;
  return n;
}

bool fits(const TokenizedExample& e, int64_t max_length) {
  return !e.ids.empty() && int64_t(e.ids.size()) <= max_length;
}

// Next-token shift: the prediction made at position i (having seen ids[0..i]) is scored
// against labels[i + 1]. The last position of each document predicts nothing, so documents
// packed into one row never train across their boundary.
static void write_doc(const TokenizedExample& e, int64_t* ids, int64_t* labels, int64_t* pos,
                      int64_t* doc, int64_t doc_id) {
  const size_t n = e.ids.size();
  for (size_t i = 0; i < n; ++i) {
    ids[i] = e.ids[i];
    labels[i] = i + 1 < n ? e.labels[i + 1] : kIgnoreIndex;
    pos[i] = int64_t(i);
    doc[i] = doc_id;
  }
}

Batch pack_examples(const std::vector<const TokenizedExample*>& examples, const PackOptions& o) {
  // Assign examples to rows: greedy first fit in the given order (deterministic).
  std::vector<std::vector<const TokenizedExample*>> rows;
  std::vector<int64_t> used;
  for (const TokenizedExample* e : examples) {
    if (!fits(*e, o.max_length))
      throw Error("pack_examples: example of " + std::to_string(e->ids.size()) +
                  " tokens does not fit max_length " + std::to_string(o.max_length));
    const int64_t len = int64_t(e->ids.size());
    size_t r = rows.size();
    if (o.pack)
      for (size_t k = 0; k < rows.size(); ++k)
        if (used[k] + len <= o.max_length) { r = k; break; }
    if (r == rows.size()) { rows.emplace_back(); used.push_back(0); }
    rows[r].push_back(e);
    used[r] += len;
  }
  Batch b;
  if (rows.empty()) return b;
  const int64_t B = int64_t(rows.size());
  const int64_t T = *std::max_element(used.begin(), used.end());
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  b.input_ids = torch::full({B, T}, int64_t(o.pad_id), i64);
  b.labels = torch::full({B, T}, kIgnoreIndex, i64);
  b.positions = torch::zeros({B, T}, i64);
  b.doc_ids = torch::full({B, T}, int64_t(-1), i64);
  b.attention_mask = torch::zeros({B, T}, torch::kBool);
  int64_t* ids = b.input_ids.data_ptr<int64_t>();
  int64_t* labels = b.labels.data_ptr<int64_t>();
  int64_t* pos = b.positions.data_ptr<int64_t>();
  int64_t* doc = b.doc_ids.data_ptr<int64_t>();
  bool* mask = b.attention_mask.data_ptr<bool>();
  for (int64_t r = 0; r < B; ++r) {
    int64_t off = r * T;
    for (size_t d = 0; d < rows[r].size(); ++d) {
      const TokenizedExample& e = *rows[r][d];
      write_doc(e, ids + off, labels + off, pos + off, doc + off, int64_t(d));
      std::fill(mask + off, mask + off + e.ids.size(), true);
      off += int64_t(e.ids.size());
      b.num_tokens += int64_t(e.ids.size());
    }
    // Padding keeps increasing positions (harmless: never attended, never a target).
    for (int64_t i = off; i < (r + 1) * T; ++i) pos[i] = i - r * T;
  }
  b.num_targets = b.labels.ne(kIgnoreIndex).sum().item<int64_t>();
  if (o.pack) b.attention_mask = torch::Tensor();  // doc_ids carry the structure (-1 = padding)
  else b.doc_ids = torch::Tensor();
  return b;
}

std::vector<size_t> epoch_order(size_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return order;
  // Seed from (seed, epoch) through splitmix64 so nearby seeds give unrelated orders.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * uint64_t(epoch + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  std::mt19937_64 rng(z);  // mt19937_64's output sequence is fixed by the C++ standard
  // Fisher-Yates with our own bounded draw (std::uniform_int_distribution is
  // implementation-defined, std::shuffle too).
  for (size_t i = n; i > 1; --i) {
    const uint64_t bound = i, limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do x = rng(); while (x >= limit);
    std::swap(order[i - 1], order[x % bound]);
  }
  return order;
}

}  // namespace delib::train
