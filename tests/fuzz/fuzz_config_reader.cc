// libFuzzer target: the config reader (TOML text → ConfigReader → ModelSpec and ParallelPlan with their
// checks, overrides, unknown keys, the resolved TOML). Any input must give a value or a Status, never a
// crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tessera/spec/config_reader.h"
#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto reader = tessera::ConfigReader::from_string(text, "<fuzz>");
  if (!reader.ok()) return 0;
  (void)reader->apply_override("model.n_layer=3");
  const tessera::ModelSpec model = tessera::read_model_spec(*reader);
  const tessera::ParallelPlan plan = tessera::read_parallel_plan(*reader);
  if (reader->status().ok()) (void)plan.validate(model, 1);
  (void)reader->check_no_unknown_keys();
  (void)reader->resolved_toml();
  return 0;
}
