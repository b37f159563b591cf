// Internal: the benchmark importer table and what each importer file shares. One importer
// is one `Importer` row (its licence, URL, citation, the layout it reads and one function
// turning the parsed file into eval records); docs/adding-an-importer.md is the checklist.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "delib/eval.h"
#include "delib/json.h"
#include "delib/records.h"

namespace delib {
class Spec;
}

namespace delib::eval::importers {

// Where a benchmark comes from. Every record's `provenance` repeats it, with file and line.
struct BenchInfo {
  const char* licence;
  const char* url;
  const char* citation;
  const char* commit;  // the commit (or dataset revision) the layout was checked against
};

// A JSON Lines file: one object per non-blank line.
struct JsonlTable {
  std::string path;
  std::vector<Json> rows;   // each an object
  std::vector<long> lines;  // 1-based line of each row
};

// Reads a JSON Lines file. Throws Error(kExitIo) when it cannot be read and
// Error(FILE:LINE) for a line that is not a JSON object.
JsonlTable read_jsonl_table(const std::string& path);

enum class Layout { kCsv, kTsv, kJsonl };

// One importer: a row of importer_table(). Exactly one of csv/jsonl is set, matching layout
// (kCsv and kTsv both give a CsvTable; kTsv is tab-separated with CSV quoting).
struct Importer {
  const char* name;    // the --import NAME
  Layout layout;
  const char* reads;   // the files and columns it reads, for docs and errors
  BenchInfo info;
  std::vector<Record> (*csv)(const CsvTable&, const Importer&, const Spec*);
  std::vector<Record> (*jsonl)(const JsonlTable&, const Importer&, const Spec*);
  // The default spec's category for the benchmark's own, or "" (nullptr: none ever maps).
  std::string (*map_category)(std::string_view bench_category);
};

// All importers, in --import's order. Defined in import.cpp; each row lives in its own file.
const std::vector<const Importer*>& importer_table();

// The rows defined in import_<name>.cpp.
extern const Importer kJbbImporter;
extern const Importer kGptfuzzImporter;
extern const Importer kOrBenchImporter;
extern const Importer kPhtestImporter;
extern const Importer kWildJailbreakImporter;
extern const Importer kSorryBenchImporter;
extern const Importer kProblemsImporter;

// ---- helpers shared by the importer files ----

std::string lower(std::string_view s);
std::string trim(std::string_view s);

// {licence, url, citation, commit, file, line}.
Json provenance(const BenchInfo& b, const std::string& path, long line);

// An eval record with the common fields in a fixed order (see delib/eval.h). Empty strings
// become null; a category the spec lacks becomes null.
Record make_record(const std::string& id, const std::string& prompt, const std::string& label,
                   const std::string& category, const std::string& bench_category,
                   const std::string& prompt_type, const std::string& source, Json benchmark,
                   Json prov, const Spec* spec);

// "<bench>-<12 hex digits of XXH3-64 of prompt>": a stable id for rows without one.
std::string content_id(std::string_view bench, std::string_view prompt);

// Throws Error(FILE:LINE, "column 'C': unexpected value 'V' (expected A, B)") unless value is
// one of allowed.
void require_value(const std::string& path, long line, std::string_view value,
                   std::initializer_list<std::string_view> allowed, std::string_view column);

// Row i's value in column c of a CSV table; throws Error(FILE:LINE, "column 'NAME': empty")
// when it is empty or blank.
const std::string& nonempty(const CsvTable& t, size_t i, size_t c);

// Row i's field `key` as a string; throws Error(FILE:LINE, "field 'KEY': ...") when it is
// absent or not a string (or, with allow_empty false, empty).
std::string jsonl_string(const JsonlTable& t, size_t i, std::string_view key,
                         bool allow_empty = false);

}  // namespace delib::eval::importers
