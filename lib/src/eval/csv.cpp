// RFC 4180 CSV reader for the benchmark files (HarmBench's ContextString and XSTest's
// completions hold quoted multi-line fields).

#include <fmt/format.h>

#include "delib/error.h"
#include "delib/fs.h"
#include "delib/eval.h"

namespace delib::eval {

size_t CsvTable::col(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  throw Error(Location{path, 1}, fmt::format("missing column '{}'", name));
}

bool CsvTable::has(std::string_view name) const {
  for (const auto& h : header)
    if (h == name) return true;
  return false;
}

namespace {

// The rows of a CSV file as they are read: fields, then rows checked against the header.
struct CsvBuilder {
  CsvTable& t;
  std::vector<std::string> row;
  std::string field;
  bool field_started = false, any = false;

  void end_field() {
    row.push_back(std::move(field));
    field.clear();
    field_started = false;
  }
  // Ends the row that started on line `row_line`: the first is the header, blank lines are
  // ignored, the others must have as many fields as the header.
  void end_row(long row_line) {
    end_field();
    if (t.header.empty() && !any) {
      t.header = std::move(row);
    } else if (!(row.size() == 1 && row[0].empty())) {
      if (row.size() != t.header.size())
        throw Error(Location{t.path, row_line},
                    fmt::format("{} fields, header has {}", row.size(), t.header.size()));
      t.rows.push_back(std::move(row));
      t.lines.push_back(row_line);
    }
    any = true;
    row.clear();
  }
};

}  // namespace

CsvTable parse_csv(std::string_view text, const std::string& source, char delimiter) {
  CsvTable t;
  t.path = source;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  CsvBuilder b{t};
  long line = 1, row_line = 1;
  bool in_quotes = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c != '"') {
        if (c == '\n') ++line;
        b.field += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        b.field += '"';  // a doubled quote
        ++i;
      } else {
        in_quotes = false;
      }
    } else if (c == '"' && !b.field_started) {
      in_quotes = b.field_started = true;
    } else if (c == delimiter) {
      b.end_field();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // CRLF: the '\n' ends the row.
    } else if (c == '\n') {
      b.end_row(row_line);
      row_line = ++line;
    } else {
      b.field += c;
      b.field_started = true;
    }
  }
  if (in_quotes) throw Error(Location{source, row_line}, "unterminated quoted field");
  if (b.field_started || !b.field.empty() || !b.row.empty()) b.end_row(row_line);
  if (t.header.empty()) throw Error(Location{source, 0}, "empty CSV file (no header)");
  return t;
}

CsvTable read_csv(const std::string& path, char delimiter) {
  return parse_csv(read_text_file(path, ""), path, delimiter);
}

}  // namespace delib::eval
