// ConfigReader: typed, validated access to a TOML config with command-line overrides.
//
// The code that reads a config *is* its schema: each get_*() names a dotted key ("train.lr"), its
// default and a one-line doc. The reader remembers the first error (wrong type, bad value) and every
// key it was asked for, so that after all reads
//   - status() says what went wrong, naming the key, the expected and the found value;
//   - check_no_unknown_keys() rejects keys nobody asked for ("train.lrr"), with the known keys as hint;
//   - resolved_toml() prints every key with its final value and doc: the run's config.toml.
// Overrides (`--set train.lr=1e-3`) are parsed as TOML values, falling back to a bare string.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace tessera {

class ConfigReader {
 public:
  // Parses TOML text; `origin` names it in messages (a path or "<string>").
  static StatusOr<ConfigReader> from_string(const std::string& text, const std::string& origin);
  static StatusOr<ConfigReader> from_file(const std::string& path);

  ConfigReader(ConfigReader&&) noexcept;
  ConfigReader& operator=(ConfigReader&&) noexcept;
  ~ConfigReader();

  // Applies "a.b=value"; the key may be new (it is still checked by check_no_unknown_keys).
  Status apply_override(const std::string& assignment);

  int64_t get_int(const std::string& key, int64_t default_value, const std::string& doc);
  // A key without a default: missing is an error ("expected an integer (every config must set it), found
  // nothing"), e.g. the model's shape, which an empty or mistyped config must not silently default.
  int64_t get_required_int(const std::string& key, const std::string& doc);
  bool has(const std::string& key) const;
  double get_double(const std::string& key, double default_value, const std::string& doc);
  bool get_bool(const std::string& key, bool default_value, const std::string& doc);
  std::string get_string(const std::string& key, const std::string& default_value, const std::string& doc);

  // Records an error for `key` unless one is recorded already: for range checks done by the caller,
  // e.g. fail(key, "a positive integer", value) → "config 'x.toml': model.n_head: expected a positive
  // integer, found 0".
  void fail(const std::string& key, const std::string& expected, const std::string& found);
  void require_positive(const std::string& key, int64_t value);

  Status status() const { return status_; }
  Status check_no_unknown_keys() const;
  std::string resolved_toml() const;
  const std::string& origin() const { return origin_; }

 private:
  ConfigReader();
  const void* find(const std::string& key) const;  // toml::node* or nullptr
  void record(const std::string& key, std::string value_toml, const std::string& doc);

  std::unique_ptr<toml::table> table_;
  std::string origin_;
  Status status_;
  struct Resolved {
    std::string value_toml;  // the value as TOML text
    std::string doc;
  };
  std::map<std::string, Resolved> resolved_;  // key → final value, sorted so sections group
};

}  // namespace tessera
