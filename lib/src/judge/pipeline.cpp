// Pieces shared by cot-gen and cot-judge: --resume targets, record categories, and in-order
// writing of results that finish out of order. (--completions templates: the HTTP backend,
// lib/src/backend/openai.cpp.)
#include <cstdio>

#include <fmt/format.h>

#include "delib/fs.h"
#include "delib/judge.h"

namespace delib {

ResumeTarget resume_target(const std::string& output, const std::string& resume, WriteOptions write) {
  ResumeTarget t{output, write, {}};
  if (resume.empty()) return t;
  if (output != "-" && output != resume)
    throw Error("--resume FILE is the output; -o must be omitted or name the same file", kExitUsage);
  t.path = resume;
  truncate_to_complete(resume);
  t.done = read_done_keys(resume);
  t.write.append = true;
  if (auto c = existing_compression(resume)) t.write.compression = *c;
  return t;
}

std::string record_category(const Record& r, const Spec& spec) {
  auto cat = r.get_string("category");
  if (!cat) throw Error(r.where(), "field 'category' is missing (a spec category id)");
  if (!spec.category(*cat)) {
    std::string known;
    for (const auto& c : spec.categories) known += (known.empty() ? "" : ", ") + c.id;
    throw Error(r.where(), fmt::format("unknown category '{}' (the spec has: {})", *cat, known));
  }
  return *cat;
}

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
