#include "tessera/plan/catalog.h"

#include <cctype>
#include <cstdlib>
#include <string_view>
#include <utility>

#include <toml++/toml.h>

#include "tessera/plan/layer_mix.h"

namespace tessera::plan {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string lower(const std::string& text) {
  std::string out;
  for (char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

StatusOr<toml::table> parse_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    if (error.source().begin.line == 0) return not_found_error("catalog '{}': cannot open the file", path);
    return invalid_argument_error("catalog '{}': line {}: {}", path, error.source().begin.line, error.description());
  }
}

// Visits every table of the array `key` ([[key]] in TOML).
template <typename Fn>
Status for_each_entry(const toml::table& root, const char* key, const std::string& path, Fn&& fn) {
  const toml::array* array = root[key].as_array();
  if (array == nullptr) return invalid_argument_error("catalog '{}': expected [[{}]] entries", path, key);
  int index = 0;
  for (const toml::node& node : *array) {
    const toml::table* table = node.as_table();
    if (table == nullptr) return invalid_argument_error("catalog '{}': {}[{}] is not a table", path, key, index);
    TESSERA_RETURN_IF_ERROR(fn(*table, fmt::format("catalog '{}': {}[{}]", path, key, index)));
    ++index;
  }
  return Status();
}

std::vector<std::string> string_list(const toml::table& table, const char* key) {
  std::vector<std::string> out;
  if (const toml::array* array = table[key].as_array()) {
    for (const toml::node& node : *array) {
      if (auto v = node.value<std::string>()) out.push_back(*v);
    }
  }
  return out;
}

StatusOr<CatalogModel> parse_model(const toml::table& t, const std::string& origin) {
  CatalogModel m;
  m.name = t["name"].value_or(std::string());
  if (m.name.empty()) return invalid_argument_error("{}: expected a name", origin);
  for (const auto& a : string_list(t, "aliases")) m.aliases.push_back(normalize_name(a));
  m.aliases.push_back(normalize_name(m.name));
  ModelSpec& s = m.spec;
  s.n_layer = t["n_layer"].value_or(int64_t{0});
  s.n_head = t["n_head"].value_or(int64_t{0});
  s.n_kv_head = t["n_kv_head"].value_or(int64_t{0});
  s.n_embd = t["n_embd"].value_or(int64_t{0});
  s.ffn_hidden = t["ffn_hidden"].value_or(int64_t{0});
  s.seq_len = t["seq_len"].value_or(int64_t{0});
  s.vocab_size = t["vocab_size"].value_or(int64_t{0});
  s.gated_mlp = t["gated_mlp"].value_or(false);
  s.tied_embeddings = t["tied_embeddings"].value_or(true);
  s.learned_positions = t["learned_positions"].value_or(true);
  s.head_dim = t["head_dim"].value_or(int64_t{0});
  // Planner-only layer kinds (layer_mix.h).
  const std::pair<const char*, int64_t*> kinds[] = {
      {"moe_experts", &s.moe_experts},       {"moe_top_k", &s.moe_top_k},
      {"moe_ffn_hidden", &s.moe_ffn_hidden}, {"moe_shared_ffn_hidden", &s.moe_shared_ffn_hidden},
      {"moe_dense_layers", &s.moe_dense_layers}, {"moe_latent_size", &s.moe_latent_size},
      {"mla_q_lora_rank", &s.mla_q_lora_rank},
      {"mla_kv_lora_rank", &s.mla_kv_lora_rank}, {"mla_rope_dim", &s.mla_rope_dim},
      {"mla_v_head_dim", &s.mla_v_head_dim}, {"attention_window", &s.attention_window},
      {"window_layers", &s.window_layers},   {"attention_layers", &s.attention_layers},
      {"mamba_layers", &s.mamba_layers},     {"mamba_heads", &s.mamba_heads},
      {"mamba_head_dim", &s.mamba_head_dim}, {"mamba_state", &s.mamba_state},
      {"mamba_groups", &s.mamba_groups},     {"ffn_layers", &s.ffn_layers},
      {"mtp_layers", &s.mtp_layers}};
  for (const auto& [key, field] : kinds) *field = t[key].value_or(int64_t{0});
  s.gated_silu = t["gated_silu"].value_or(true);
  s.mtp_shared_weights = t["mtp_shared_weights"].value_or(false);
  s.layer_pattern = t["layer_pattern"].value_or(std::string());
  m.router_groups = t["router_groups"].value_or(int64_t{0});
  m.router_group_topk = t["router_group_topk"].value_or(int64_t{0});
  // A key the planner does not read is a typo or a feature it does not model: refuse it.
  for (const auto& [key, node] : t) {
    const std::string_view k = key.str();
    bool known = k == "name" || k == "aliases" || k == "n_layer" || k == "n_head" || k == "n_kv_head" || k == "n_embd" ||
                 k == "ffn_hidden" || k == "seq_len" || k == "vocab_size" || k == "gated_mlp" ||
                 k == "tied_embeddings" || k == "learned_positions" || k == "head_dim" || k == "gated_silu" ||
                 k == "mtp_shared_weights" || k == "layer_pattern" ||
                 k == "router_groups" || k == "router_group_topk";
    for (const auto& kind : kinds) known = known || k == kind.first;
    if (!known) return invalid_argument_error("{} '{}': unknown key '{}'", origin, m.name, k);
  }
  TESSERA_RETURN_IF_ERROR(s.validate().with_context(origin + " '" + m.name + "'"));
  TESSERA_RETURN_IF_ERROR(validate_layer_mix(s).with_context(origin + " '" + m.name + "'"));
  if (m.router_groups < 0 || m.router_group_topk < 0 || m.router_group_topk > m.router_groups ||
      (m.router_groups > 0 && (s.moe_experts % m.router_groups != 0 || m.router_group_topk == 0))) {
    return invalid_argument_error("{} '{}': router_groups, router_group_topk: expected groups dividing the experts ({}) "
                                  "and 1 <= group_topk <= groups, found {} and {}",
                                  origin, m.name, s.moe_experts, m.router_groups, m.router_group_topk);
  }
  return m;
}

}  // namespace

std::string normalize_name(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string Catalog::default_dir() {
  if (const char* env = std::getenv("TESSERA_CATALOG"); env != nullptr && *env != '\0') return env;
#ifdef TESSERA_DEFAULT_CATALOG_DIR
  return TESSERA_DEFAULT_CATALOG_DIR;
#else
  return "catalog";
#endif
}

StatusOr<Catalog> Catalog::load(const std::string& dir) {
  Catalog catalog;
  const std::string acc_path = dir + "/accelerators.toml";
  TESSERA_ASSIGN_OR_RETURN(toml::table acc_root, parse_file(acc_path));
  TESSERA_RETURN_IF_ERROR(for_each_entry(acc_root, "accelerator", acc_path, [&](const toml::table& t, const std::string& origin) -> Status {
    TESSERA_ASSIGN_OR_RETURN(AcceleratorSpec spec, parse_accelerator_spec(t, origin));
    CatalogAccelerator entry{std::move(spec), {}};
    for (const auto& m : string_list(t, "match")) entry.match.push_back(lower(m));
    catalog.accelerators_.push_back(std::move(entry));
    return Status();
  }));
  const std::string cl_path = dir + "/clusters.toml";
  TESSERA_ASSIGN_OR_RETURN(toml::table cl_root, parse_file(cl_path));
  TESSERA_RETURN_IF_ERROR(for_each_entry(cl_root, "cluster", cl_path, [&](const toml::table& t, const std::string& origin) -> Status {
    TESSERA_ASSIGN_OR_RETURN(ClusterSpec spec, parse_cluster_spec(t, origin));
    catalog.clusters_.push_back(std::move(spec));
    return Status();
  }));
  for (const auto& c : catalog.clusters_) {
    if (!catalog.accelerator(c.accelerator).ok()) {
      return not_found_error("catalog '{}': cluster '{}' names unknown accelerator '{}'; known: {}", cl_path, c.name,
                             c.accelerator, join(catalog.accelerator_names()));
    }
  }
  const std::string mo_path = dir + "/models.toml";
  TESSERA_ASSIGN_OR_RETURN(toml::table mo_root, parse_file(mo_path));
  TESSERA_RETURN_IF_ERROR(for_each_entry(mo_root, "model", mo_path, [&](const toml::table& t, const std::string& origin) -> Status {
    TESSERA_ASSIGN_OR_RETURN(CatalogModel m, parse_model(t, origin));
    catalog.models_.push_back(std::move(m));
    return Status();
  }));
  // Optional: published models refused by reason.
  if (mo_root["unmodelled"]) {
    TESSERA_RETURN_IF_ERROR(for_each_entry(mo_root, "unmodelled", mo_path, [&](const toml::table& t, const std::string& origin) -> Status {
      UnmodelledModel u;
      u.name = t["name"].value_or(std::string());
      u.reason = t["reason"].value_or(std::string());
      if (u.name.empty() || u.reason.empty()) return invalid_argument_error("{}: expected a name and a reason", origin);
      for (const auto& a : string_list(t, "aliases")) u.aliases.push_back(normalize_name(a));
      u.aliases.push_back(normalize_name(u.name));
      for (const auto& [key, node] : t) {
        const std::string_view k = key.str();
        if (k != "name" && k != "aliases" && k != "reason") {
          return invalid_argument_error("{} '{}': unknown key '{}' (expected name, aliases, reason)", origin, u.name, k);
        }
      }
      catalog.unmodelled_.push_back(std::move(u));
      return Status();
    }));
  }
  return catalog;
}

StatusOr<AcceleratorSpec> Catalog::accelerator(const std::string& name) const {
  for (const auto& a : accelerators_) {
    if (a.spec.name == name) return a.spec;
  }
  return not_found_error("unknown accelerator '{}'; known: {}", name, join(accelerator_names()));
}

StatusOr<ClusterSpec> Catalog::cluster(const std::string& name) const {
  for (const auto& c : clusters_) {
    if (c.name == name) return c;
  }
  return not_found_error("unknown cluster '{}'; known: {} (or an accelerator name: {})", name, join(cluster_names()),
                         join(accelerator_names()));
}

StatusOr<ModelSpec> Catalog::model(const std::string& name) const {
  if (const CatalogModel* m = match_model(name)) return m->spec;
  if (const UnmodelledModel* u = match_unmodelled(name)) {
    return invalid_argument_error("model '{}' is not modelled: {}", u->name, u->reason);
  }
  return not_found_error("unknown model '{}'; known: {} (or a path to a training config .toml)", name,
                         join(model_names()));
}

const AcceleratorSpec* Catalog::match_accelerator(const std::string& text) const {
  const std::string haystack = lower(text);
  const AcceleratorSpec* best = nullptr;
  size_t best_length = 0;
  for (const auto& a : accelerators_) {
    for (const auto& m : a.match) {
      if (m.size() > best_length && haystack.find(m) != std::string::npos) {
        best = &a.spec;
        best_length = m.size();
      }
    }
  }
  return best;
}

const CatalogModel* Catalog::match_model(const std::string& text) const {
  const std::string key = normalize_name(text);
  for (const auto& m : models_) {
    for (const auto& alias : m.aliases) {
      if (alias == key) return &m;
    }
  }
  return nullptr;
}

const UnmodelledModel* Catalog::match_unmodelled(const std::string& text) const {
  const std::string key = normalize_name(text);
  for (const auto& u : unmodelled_) {
    for (const auto& alias : u.aliases) {
      if (alias == key) return &u;
    }
  }
  return nullptr;
}

ClusterSpec Catalog::cluster_for(const AcceleratorSpec& accelerator) {
  ClusterSpec c;
  c.name = accelerator.name;
  c.description = "generic cluster of " + accelerator.name;
  c.accelerator = accelerator.name;
  c.accelerators_per_node = std::min<int64_t>(8, accelerator.scaleup_domain);
  return c;
}

std::vector<std::string> Catalog::accelerator_names() const {
  std::vector<std::string> out;
  for (const auto& a : accelerators_) out.push_back(a.spec.name);
  return out;
}
std::vector<std::string> Catalog::cluster_names() const {
  std::vector<std::string> out;
  for (const auto& c : clusters_) out.push_back(c.name);
  return out;
}
std::vector<std::string> Catalog::model_names() const {
  std::vector<std::string> out;
  for (const auto& m : models_) out.push_back(m.name);
  return out;
}

}  // namespace tessera::plan
