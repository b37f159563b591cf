// Pieces shared by cot-gen and cot-judge: in-order writing of results that finish out of order.
#include <cstdio>

#include "delib/judge.h"

namespace delib {

std::optional<Compression> existing_compression(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::nullopt;
  unsigned char magic[4];
  size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  if (n == 0) return std::nullopt;
  bool zstd = n == 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD;
  return zstd ? Compression::kZstd : Compression::kPlain;
}

void OrderedWriter::put(size_t seq, std::optional<Record> record) {
  if (unordered_) {
    if (record) {
      writer_.write(*record);
      ++written_;
    }
    return;
  }
  pending_.emplace(seq, std::move(record));
  drain();
}

void OrderedWriter::stop(size_t seq) {
  if (seq < stop_) stop_ = seq;
}

void OrderedWriter::drain() {
  while (!pending_.empty() && pending_.begin()->first == next_ && next_ < stop_) {
    auto node = pending_.extract(pending_.begin());
    if (node.mapped()) {
      writer_.write(*node.mapped());
      ++written_;
    }
    ++next_;
  }
}

}  // namespace delib
