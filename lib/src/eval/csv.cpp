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

CsvTable parse_csv(std::string_view text, const std::string& source) {
  CsvTable t;
  t.path = source;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string> row;
  std::string field;
  long line = 1, row_line = 1;
  bool in_quotes = false, field_started = false, any = false;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_row = [&] {
    end_field();
    if (t.header.empty() && !any) {
      t.header = std::move(row);
    } else if (!(row.size() == 1 && row[0].empty())) {  // blank lines are ignored
      if (row.size() != t.header.size())
        throw Error(Location{source, row_line},
                    fmt::format("{} fields, header has {}", row.size(), t.header.size()));
      t.rows.push_back(std::move(row));
      t.lines.push_back(row_line);
    }
    any = true;
    row.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      in_quotes = true;
      field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // CRLF: the '\n' ends the row.
    } else if (c == '\n') {
      end_row();
      ++line;
      row_line = line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (in_quotes) throw Error(Location{source, row_line}, "unterminated quoted field");
  if (field_started || !field.empty() || !row.empty()) end_row();
  if (t.header.empty()) throw Error(Location{source, 0}, "empty CSV file (no header)");
  return t;
}

CsvTable read_csv(const std::string& path) {
  return parse_csv(read_text_file(path, ""), path);
}

}  // namespace delib::eval
