// Pieces shared by cot-gen and cot-judge: in-order writing of results that finish out of order.
#include "delib/judge.h"

namespace delib {

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
