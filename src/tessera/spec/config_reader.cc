#include "tessera/spec/config_reader.h"

#include "tessera/core/file.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace tessera {

namespace {

std::string node_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date/time";
  }
}

std::string node_to_text(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

// Every leaf key of a table, dotted.
void collect_leaf_keys(const toml::table& table, const std::string& prefix, std::vector<std::string>* keys) {
  for (const auto& [key, node] : table) {
    const std::string dotted = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const toml::table* sub = node.as_table()) {
      collect_leaf_keys(*sub, dotted, keys);
    } else {
      keys->push_back(dotted);
    }
  }
}

}  // namespace

ConfigReader::ConfigReader() : table_(std::make_unique<toml::table>()) {}
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;
ConfigReader& ConfigReader::operator=(ConfigReader&&) noexcept = default;
ConfigReader::~ConfigReader() = default;

StatusOr<ConfigReader> ConfigReader::from_string(const std::string& text, const std::string& origin) {
  ConfigReader reader;
  reader.origin_ = origin;
  try {
    *reader.table_ = toml::parse(text, origin);
  } catch (const toml::parse_error& error) {
    return invalid_argument_error("config '{}': line {}: {}", origin, error.source().begin.line,
                                  error.description());
  }
  return reader;
}

StatusOr<ConfigReader> ConfigReader::from_file(const std::string& path) {
  // A config is a small text file: a directory, /dev/zero or a FIFO named by mistake is refused before
  // anything is read (it would train the defaults, grow memory without end, or block).
  constexpr int64_t kMaxConfigBytes = 1 << 20;
  auto text = read_regular_file(path, kMaxConfigBytes);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return not_found_error("config '{}': cannot open the file: no such file", path);
    }
    return Status(text.status().code(), "config " + text.status().message());
  }
  return from_string(*text, path);
}

Status ConfigReader::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return invalid_argument_error("--set '{}': expected key=value, e.g. train.lr=1e-3", assignment);
  }
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    // An integer TOML cannot hold is an error, not the string "99999999999999999999".
    const bool all_digits = value.find_first_not_of("0123456789", value[0] == '-' || value[0] == '+' ? 1 : 0) ==
                            std::string::npos;
    if (all_digits && value.size() > 1) {
      return invalid_argument_error("--set '{}': {}: expected an integer between -2^63 and 2^63-1, found {}",
                                    assignment, key, value);
    }
    parsed.insert_or_assign("v", value);  // a bare word: take it as a string
  }
  // Walk/create the tables of a.b.c and set the leaf.
  toml::table* table = table_.get();
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) return invalid_argument_error("--set '{}': empty part in key '{}'", assignment, key);
    if (dot == std::string::npos) {
      table->insert_or_assign(part, *parsed.get("v"));
      return Status();
    }
    toml::node* next = table->get(part);
    if (next == nullptr) {
      table->insert_or_assign(part, toml::table{});
      next = table->get(part);
    }
    if (!next->is_table()) {
      return invalid_argument_error("--set '{}': '{}' is a value, not a section", assignment,
                                    key.substr(0, dot));
    }
    table = next->as_table();
    start = dot + 1;
  }
}

const void* ConfigReader::find(const std::string& key) const {
  return table_->at_path(key).node();
}

void ConfigReader::record(const std::string& key, std::string value_toml, const std::string& doc) {
  resolved_[key] = Resolved{std::move(value_toml), doc};
}

void ConfigReader::fail(const std::string& key, const std::string& expected, const std::string& found) {
  if (status_.ok()) {
    status_ = invalid_argument_error("config '{}': {}: expected {}, found {}", origin_, key, expected, found);
  }
}

void ConfigReader::require_positive(const std::string& key, int64_t value) {
  if (value <= 0) fail(key, "a positive integer", std::to_string(value));
}

bool ConfigReader::has(const std::string& key) const { return find(key) != nullptr; }

int64_t ConfigReader::get_required_int(const std::string& key, const std::string& doc) {
  if (!has(key)) fail(key, "an integer (every config must set it)", "nothing");
  return get_int(key, 0, doc);
}

int64_t ConfigReader::get_int(const std::string& key, int64_t default_value, const std::string& doc) {
  int64_t value = default_value;
  if (const auto* node = static_cast<const toml::node*>(find(key))) {
    if (auto v = node->value_exact<int64_t>()) {
      value = *v;
    } else {
      fail(key, "an integer", fmt::format("{} ({})", node_to_text(*node), node_type_name(*node)));
    }
  }
  record(key, std::to_string(value), doc);
  return value;
}

double ConfigReader::get_double(const std::string& key, double default_value, const std::string& doc) {
  double value = default_value;
  if (const auto* node = static_cast<const toml::node*>(find(key))) {
    if (auto f = node->value_exact<double>()) {
      value = *f;
    } else if (auto i = node->value_exact<int64_t>()) {
      value = static_cast<double>(*i);
    } else {
      fail(key, "a number", fmt::format("{} ({})", node_to_text(*node), node_type_name(*node)));
    }
  }
  std::ostringstream text;
  text << toml::value<double>(value);
  record(key, text.str(), doc);
  return value;
}

bool ConfigReader::get_bool(const std::string& key, bool default_value, const std::string& doc) {
  bool value = default_value;
  if (const auto* node = static_cast<const toml::node*>(find(key))) {
    if (auto b = node->value_exact<bool>()) {
      value = *b;
    } else {
      fail(key, "true or false", fmt::format("{} ({})", node_to_text(*node), node_type_name(*node)));
    }
  }
  record(key, value ? "true" : "false", doc);
  return value;
}

std::string ConfigReader::get_string(const std::string& key, const std::string& default_value,
                                     const std::string& doc) {
  std::string value = default_value;
  if (const auto* node = static_cast<const toml::node*>(find(key))) {
    if (auto s = node->value_exact<std::string>()) {
      value = *s;
    } else {
      fail(key, "a string", fmt::format("{} ({})", node_to_text(*node), node_type_name(*node)));
    }
  }
  std::ostringstream text;
  text << toml::value<std::string>(value);
  record(key, text.str(), doc);
  return value;
}

Status ConfigReader::check_no_unknown_keys() const {
  std::vector<std::string> keys;
  collect_leaf_keys(*table_, "", &keys);
  for (const std::string& key : keys) {
    if (resolved_.count(key)) continue;
    // Hint: the known keys of the same section.
    const std::string section = key.substr(0, key.rfind('.') == std::string::npos ? 0 : key.rfind('.'));
    std::vector<std::string> known;
    for (const auto& [k, _] : resolved_) {
      const std::string k_section = k.substr(0, k.rfind('.') == std::string::npos ? 0 : k.rfind('.'));
      if (k_section == section) known.push_back(k);
    }
    if (known.empty()) {
      for (const auto& [k, _] : resolved_) {
        const std::string top = k.substr(0, k.find('.'));
        if (known.empty() || known.back() != top) known.push_back(top);
      }
      return invalid_argument_error("config '{}': unknown key '{}'; hint: known sections are {}", origin_,
                                    key, fmt::join(known, ", "));
    }
    return invalid_argument_error("config '{}': unknown key '{}'; hint: known keys are {}", origin_, key,
                                  fmt::join(known, ", "));
  }
  return Status();
}

std::string ConfigReader::resolved_toml() const {
  std::string out;
  std::string current_section = "\x01";
  for (const auto& [key, resolved] : resolved_) {
    const size_t dot = key.rfind('.');
    const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
    if (section != current_section) {
      if (!out.empty()) out += "\n";
      if (!section.empty()) out += fmt::format("[{}]\n", section);
      current_section = section;
    }
    out += fmt::format("{} = {}  # {}\n", leaf, resolved.value_toml, resolved.doc);
  }
  return out;
}

}  // namespace tessera
