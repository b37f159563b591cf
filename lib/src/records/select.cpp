// jsonl-cat's record pipeline (delib/filter.h): field selection, then shard, --where, --dedupe,
// --sample, --head and --select over the record stream, or --count / --stats instead of records.
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <unordered_set>

#include <fmt/format.h>

#include "delib/filter.h"
#include "delib/progress.h"

namespace delib {

std::vector<std::string> parse_field_list(std::string_view list) {
  std::vector<std::string> paths;
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    std::string_view p = list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (!p.empty()) paths.emplace_back(p);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return paths;
}

Record select_fields(const Record& r, const std::vector<std::string>& paths) {
  Json out = Json::object();
  for (const auto& p : paths) {
    auto v = r.path(p);
    if (!v) continue;
    Json* cur = &out;
    size_t start = 0;
    for (;;) {
      size_t dot = p.find('.', start);
      std::string part = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (dot == std::string::npos) {
        cur->set(part, *v);
        break;
      }
      const Json* existing = cur->find(part);
      if (!existing || !existing->is_object()) cur->set(part, Json::object());
      cur = const_cast<Json*>(cur->find(part));
      start = dot + 1;
    }
  }
  return Record::from_json(out, r.where());
}

int run_cat(const CatOptions& o) {
  std::optional<Predicate> pred;
  if (!o.where.empty()) pred = Predicate::parse(o.where);
  RecordReader reader(o.inputs, o.read);
  std::unique_ptr<RecordWriter> writer;
  if (!o.count && !o.stats) writer = std::make_unique<RecordWriter>(o.output, o.write);
  std::unordered_set<uint64_t> seen;
  const bool reservoir = o.sample >= 1;
  const size_t want = reservoir ? size_t(o.sample) : 0;
  std::vector<std::pair<size_t, Record>> pool;  // (input index, record)
  std::mt19937_64 rng(o.seed);
  size_t index = 0, out = 0, bytes = 0;
  std::map<std::string, size_t> fields;
  Progress progress("records", -1, o.progress);
  Record r;
  auto emit = [&](const Record& rec) {
    ++out;
    if (o.stats) {
      bytes += rec.to_json().size() + 1;
      for (auto& k : rec.keys()) ++fields[k];
    }
    if (!writer) return;
    if (o.select.empty()) writer->write(rec);
    else writer->write(select_fields(rec, o.select));
  };
  while (reader.next(r)) {
    progress.add();
    if (pred && !pred->eval(r)) continue;
    if (!o.dedupe.empty()) {
      auto v = r.path(o.dedupe);
      uint64_t h = hash64(v ? v->dump() : std::string("\x01missing"));
      if (!seen.insert(h).second) continue;
    }
    if (o.sample > 0 && !reservoir) {
      uint64_t h = hash64(fmt::format("{}\x1f{}", o.seed, r.id()));
      if (double(h >> 11) * 0x1.0p-53 >= o.sample) continue;
    }
    if (reservoir) {  // Algorithm R (Vitter 1985)
      if (pool.size() < want) pool.emplace_back(index, std::move(r));
      else {
        std::uniform_int_distribution<size_t> d(0, index);
        size_t j = d(rng);
        if (j < want) pool[j] = {index, std::move(r)};
      }
      ++index;
      continue;
    }
    ++index;
    emit(r);
    if (o.head >= 0 && long(out) >= o.head) break;
  }
  if (reservoir) {
    std::sort(pool.begin(), pool.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (auto& [i, rec] : pool) {
      if (o.head >= 0 && long(out) >= o.head) break;
      emit(rec);
    }
  }
  progress.finish();
  if (writer) writer->close();
  if (o.count) fmt::print("{}\n", out);
  if (o.stats) {
    fmt::print("records\t{}\nbytes\t{}\n", out, bytes);
    std::vector<std::pair<std::string, size_t>> f(fields.begin(), fields.end());
    std::stable_sort(f.begin(), f.end(), [](auto& a, auto& b) { return a.second > b.second; });
    for (auto& [k, n] : f) fmt::print("field\t{}\t{}\n", k, n);
  }
  if (reader.skipped() > 0)
    fmt::print(stderr, "jsonl-cat: warning: skipped {} bad line(s){}\n", reader.skipped(),
               o.read.rejects_path.empty() ? "" : " (written to " + o.read.rejects_path + ")");
  return kExitOk;
}

}  // namespace delib
