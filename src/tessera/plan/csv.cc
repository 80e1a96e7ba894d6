#include "tessera/plan/csv.h"

#include <fstream>
#include <sstream>

namespace tessera::plan {

const std::string& CsvTable::field(size_t row, const std::string& name) const {
  static const std::string kEmpty;
  auto it = index.find(name);
  if (it == index.end() || row >= rows.size()) return kEmpty;
  return rows[row][it->second];
}

StatusOr<CsvTable> parse_csv(const std::string& text, const std::string& origin) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, field_started = false;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && field.empty()) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      field_started = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      if (field_started || !field.empty() || !record.empty()) {
        record.push_back(std::move(field));
        records.push_back(std::move(record));
      }
      record.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) return invalid_argument_error("csv '{}': unterminated quoted field at line {}", origin, line);
  if (field_started || !field.empty() || !record.empty()) {
    record.push_back(std::move(field));
    records.push_back(std::move(record));
  }
  if (records.empty()) return invalid_argument_error("csv '{}': expected a header line, found an empty file", origin);
  CsvTable table;
  table.header = std::move(records[0]);
  for (size_t i = 0; i < table.header.size(); ++i) table.index[table.header[i]] = i;
  for (size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != table.header.size()) {
      return invalid_argument_error("csv '{}': data row {} has {} fields, expected {} (the header's)", origin, r - 1,
                                    records[r].size(), table.header.size());
    }
    table.rows.push_back(std::move(records[r]));
  }
  return table;
}

StatusOr<CsvTable> read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found_error("csv '{}': cannot open the file", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_csv(text.str(), path);
}

}  // namespace tessera::plan
