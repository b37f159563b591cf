// jsonl-cat: concatenate, convert, sample, shard, dedupe, select and filter records.
#include <algorithm>
#include <map>
#include <random>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>

#include "delib/cli.h"
#include "delib/filter.h"
#include "delib/progress.h"
#include "delib/records.h"

namespace {

// Builds {"a":..., "b":{"c":...}} from the selected dotted paths of `r`.
delib::Record select_fields(const delib::Record& r, const std::vector<std::string>& paths) {
  delib::Json out = delib::Json::object();
  for (auto& p : paths) {
    auto v = r.path(p);
    if (!v) continue;
    delib::Json* cur = &out;
    size_t start = 0;
    for (;;) {
      size_t dot = p.find('.', start);
      std::string part = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (dot == std::string::npos) {
        cur->set(part, *v);
        break;
      }
      const delib::Json* existing = cur->find(part);
      if (!existing || !existing->is_object()) cur->set(part, delib::Json::object());
      cur = const_cast<delib::Json*>(cur->find(part));
      start = dot + 1;
    }
  }
  return delib::Record::from_json(out, r.where());
}

}  // namespace

int main(int argc, char** argv) {
  delib::cli::ToolInfo info;
  info.name = "jsonl-cat";
  info.summary = "concatenate, convert and filter delib record streams";
  info.description =
      "jsonl-cat reads records (JSON objects, one per line, plain or zstd) from the inputs in order "
      "and writes them out, optionally filtered. Every record is parsed and validated; fields are "
      "written back byte for byte unless --select rebuilds the record.\n"
      "\n"
      "Filters apply in this order: --shard, --where, --dedupe, --sample, --head, then --select.\n"
      "\n"
      "The --where language (see delib-records(5)): comparisons PATH OP VALUE with OP one of "
      "== != < <= > >= =~ (PCRE2 regex), combined with && || ! and parentheses; PATH alone tests "
      "that the field is present and not null, false, 0 or empty. A missing field makes every "
      "comparison false except !=.";
  info.examples =
      "# decompress for reading\n"
      "jsonl-cat --plain gen.jsonl.zst | less\n"
      "# keep judged samples scoring 7 or more\n"
      "jsonl-cat --where 'judge.score>=7 && format_ok==true' judged.jsonl.zst -o kept.jsonl.zst\n"
      "# a reproducible 10% sample, one sample per prompt\n"
      "jsonl-cat --sample 0.1 --seed 1 --dedupe id data.jsonl.zst > small.jsonl.zst\n"
      "# what fields are there?\n"
      "jsonl-cat --stats data.jsonl.zst\n";

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  long head = -1;
  double sample = 0;
  std::string dedupe, select, where;
  bool count = false, stats = false;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run, /*with_threads=*/false);
        const char* g = "Filters";
        app.add_option("--head", head, "Stop after N output records")->type_name("N")->group(g)
            ->check(CLI::NonNegativeNumber);
        app.add_option("--sample", sample,
                       "Keep a seeded random subset: a fraction in (0,1) keeps each record with that probability "
                       "(decided by a hash of --seed and the id, so it is stable); N >= 1 keeps exactly N "
                       "records (reservoir sampling, output in input order)")
            ->type_name("P|N")->group(g)->check(CLI::PositiveNumber);
        app.add_option("--dedupe", dedupe, "Keep the first record for each value of FIELD (dotted path; xxHash of its JSON)")
            ->type_name("FIELD")->group(g);
        app.add_option("--select", select, "Write only these fields (comma-separated dotted paths)")
            ->type_name("A,B.C")->group(g);
        app.add_option("--where", where, "Keep records for which EXPR holds (see DESCRIPTION)")
            ->type_name("EXPR")->group(g);
        app.add_flag("--count", count, "Print the number of records that pass the filters, not the records")->group(g);
        app.add_flag("--stats", stats, "Print records, bytes and the fields seen (with counts), not the records")
            ->group(g)->excludes("--count");
      },
      [&]() -> int {
        std::optional<delib::Predicate> pred;
        if (!where.empty()) pred = delib::Predicate::parse(where);
        std::vector<std::string> paths;
        if (!select.empty()) {
          std::stringstream ss(select);
          std::string p;
          while (std::getline(ss, p, ',')) if (!p.empty()) paths.push_back(p);
        }
        delib::RecordReader reader(io.inputs, io.read_options());
        std::unique_ptr<delib::RecordWriter> writer;
        if (!count && !stats) writer = std::make_unique<delib::RecordWriter>(io.output, io.write_options());
        std::unordered_set<uint64_t> seen;
        const bool reservoir = sample >= 1;
        const size_t want = reservoir ? size_t(sample) : 0;
        std::vector<std::pair<size_t, delib::Record>> pool;  // (input index, record)
        std::mt19937_64 rng(run.seed);
        size_t index = 0, out = 0, bytes = 0;
        std::map<std::string, size_t> fields;
        delib::Progress progress("records", -1, run.progress());
        delib::Record r;
        auto emit = [&](const delib::Record& rec) {
          ++out;
          if (stats) {
            bytes += rec.to_json().size() + 1;
            for (auto& k : rec.keys()) ++fields[k];
          }
          if (!writer) return;
          if (paths.empty()) writer->write(rec);
          else writer->write(select_fields(rec, paths));
        };
        while (reader.next(r)) {
          progress.add();
          if (pred && !pred->eval(r)) continue;
          if (!dedupe.empty()) {
            auto v = r.path(dedupe);
            uint64_t h = delib::hash64(v ? v->dump() : std::string("\x01missing"));
            if (!seen.insert(h).second) continue;
          }
          if (sample > 0 && !reservoir) {
            uint64_t h = delib::hash64(fmt::format("{}\x1f{}", run.seed, r.id()));
            if (double(h >> 11) * 0x1.0p-53 >= sample) continue;
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
          if (head >= 0 && long(out) >= head) break;
        }
        if (reservoir) {
          std::sort(pool.begin(), pool.end(), [](auto& a, auto& b) { return a.first < b.first; });
          for (auto& [i, rec] : pool) {
            if (head >= 0 && long(out) >= head) break;
            emit(rec);
          }
        }
        progress.finish();
        if (writer) writer->close();
        if (count) fmt::print("{}\n", out);
        if (stats) {
          fmt::print("records\t{}\nbytes\t{}\n", out, bytes);
          std::vector<std::pair<std::string, size_t>> f(fields.begin(), fields.end());
          std::stable_sort(f.begin(), f.end(), [](auto& a, auto& b) { return a.second > b.second; });
          for (auto& [k, n] : f) fmt::print("field\t{}\t{}\n", k, n);
        }
        if (reader.skipped() > 0)
          delib::cli::warn(fmt::format("skipped {} bad line(s){}", reader.skipped(),
                                       io.rejects.empty() ? "" : " (written to " + io.rejects + ")"));
        return delib::kExitOk;
      });
}
