// jsonl-cat: concatenate, convert, sample, shard, dedupe, select and filter records.
// Parses flags into delib::CatOptions and calls delib::run_cat (lib/src/records/select.cpp).
#include "delib/cli.h"
#include "delib/filter.h"

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
      "jsonl-cat --stats data.jsonl.zst\n"
      "# merge cot-gen's shards\n"
      "jsonl-cat gen.part-0-of-2.jsonl gen.part-1-of-2.jsonl -o gen.jsonl\n";

  delib::cli::IoOptions io;
  delib::cli::RunOptions run;
  delib::CatOptions o;
  std::string select;

  return delib::cli::run_tool(
      argc, argv, info,
      [&](CLI::App& app) {
        delib::cli::add_io_options(app, io);
        delib::cli::add_run_options(app, run, /*with_threads=*/false);
        const char* g = "Filters";
        app.add_option("--head", o.head, "Stop after N output records")->type_name("N")->group(g)
            ->check(CLI::NonNegativeNumber);
        app.add_option("--sample", o.sample,
                       "Keep a seeded random subset: a fraction in (0,1) keeps each record with that probability "
                       "(decided by a hash of --seed and the id, so it is stable); N >= 1 keeps exactly N "
                       "records (reservoir sampling, output in input order)")
            ->type_name("P|N")->group(g)->check(CLI::PositiveNumber);
        app.add_option("--dedupe", o.dedupe, "Keep the first record for each value of FIELD (dotted path; xxHash of its JSON)")
            ->type_name("FIELD")->group(g);
        app.add_option("--select", select, "Write only these fields (comma-separated dotted paths)")
            ->type_name("A,B.C")->group(g);
        app.add_option("--where", o.where, "Keep records for which EXPR holds (see DESCRIPTION)")
            ->type_name("EXPR")->group(g);
        app.add_flag("--count", o.count, "Print the number of records that pass the filters, not the records")->group(g);
        app.add_flag("--stats", o.stats, "Print records, bytes and the fields seen (with counts), not the records")
            ->group(g)->excludes("--count");
      },
      [&]() -> int {
        o.inputs = io.inputs;
        o.read = io.read_options();
        o.output = io.output;
        o.write = io.write_options();
        o.seed = run.seed;
        o.progress = run.progress();
        o.select = delib::parse_field_list(select);
        return delib::run_cat(o);
      });
}
