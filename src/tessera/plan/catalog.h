// Catalog: the planner's hardware, cluster and model data, loaded from catalog/*.toml
// (accelerators.toml, clusters.toml, models.toml). Users extend it by editing those files or pointing
// --catalog / TESSERA_CATALOG at their own copy. Lookups by an unknown name fail with one line naming
// the thing and the known names.
#pragma once

#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/spec/cluster_spec.h"
#include "tessera/spec/model_spec.h"

namespace tessera::plan {

struct CatalogModel {
  std::string name;
  std::vector<std::string> aliases;  // normalized (lower-case letters and digits only)
  ModelSpec spec;
  // Group-limited MoE routing (models.toml router_groups, router_group_topk; 0 = none): the experts form
  // router_groups groups and a token's top-k come from its router_group_topk best groups (DeepSeek-V3: 8, 4).
  int64_t router_groups = 0;
  int64_t router_group_topk = 0;
};

// A published model whose layer kinds the planner does not model (models.toml [[unmodelled]]): named so that a
// lookup refuses it with the reason (the kind it lacks) instead of "unknown model".
struct UnmodelledModel {
  std::string name;
  std::vector<std::string> aliases;  // normalized, the name's included
  std::string reason;                // the layer kinds not modelled, with the source that describes them
};

struct CatalogAccelerator {
  AcceleratorSpec spec;
  std::vector<std::string> match;  // lower-case substrings of free-text names
};

// Lower-cases and keeps letters and digits only: "LLAMA3.1_405B" → "llama31405b".
std::string normalize_name(const std::string& text);

class Catalog {
 public:
  // Reads <dir>/accelerators.toml, clusters.toml and models.toml; every file must exist and parse.
  static StatusOr<Catalog> load(const std::string& dir);
  // $TESSERA_CATALOG if set, else the catalog/ of the source tree this binary was built from.
  static std::string default_dir();

  StatusOr<AcceleratorSpec> accelerator(const std::string& name) const;
  StatusOr<ClusterSpec> cluster(const std::string& name) const;
  // By name or alias; an [[unmodelled]] name fails with "model 'x' is not modelled: <reason>".
  StatusOr<ModelSpec> model(const std::string& name) const;
  // The accelerator whose longest `match` substring occurs in `text` (e.g. "DGX-GB200"); nullptr if none.
  const AcceleratorSpec* match_accelerator(const std::string& text) const;
  // The catalog model whose name or alias equals normalize_name(text); nullptr if none.
  const CatalogModel* match_model(const std::string& text) const;
  // The [[unmodelled]] entry whose name or alias equals normalize_name(text); nullptr if none.
  const UnmodelledModel* match_unmodelled(const std::string& text) const;
  // A one-accelerator-type cluster built around an accelerator (used when --cluster names an accelerator).
  static ClusterSpec cluster_for(const AcceleratorSpec& accelerator);

  std::vector<std::string> accelerator_names() const;
  std::vector<std::string> cluster_names() const;
  std::vector<std::string> model_names() const;
  const std::vector<CatalogAccelerator>& accelerators() const { return accelerators_; }

 private:
  std::vector<CatalogAccelerator> accelerators_;
  std::vector<ClusterSpec> clusters_;
  std::vector<CatalogModel> models_;
  std::vector<UnmodelledModel> unmodelled_;
};

}  // namespace tessera::plan
