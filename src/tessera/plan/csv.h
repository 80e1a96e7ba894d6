// Minimal RFC 4180 CSV reader: quoted fields may hold commas, doubled quotes and newlines.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace tessera::plan {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each row has header.size() fields
  // Field of `row` in column `name`; "" when the column is absent.
  const std::string& field(size_t row, const std::string& name) const;
  std::map<std::string, size_t> index;
};

StatusOr<CsvTable> parse_csv(const std::string& text, const std::string& origin);
StatusOr<CsvTable> read_csv_file(const std::string& path);

}  // namespace tessera::plan
