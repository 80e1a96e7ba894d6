// prepare_dataset: text files → tokenizer → token shards + dataset.json, the work behind
// `tessera data prepare` (docs/data_format.md describes what lands in out_dir).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

struct PrepareOptions {
  std::vector<std::string> inputs;  // files or directories (see list_corpus_files)
  std::string out_dir;              // created if missing; existing shards of a former run are replaced
  int64_t vocab_size = 8192;        // of the tokenizer trained here; ignored when `tokenizer` is set
  std::string tokenizer;            // an existing .model to reuse; empty = train one on the inputs
  double val_fraction = 0.05;       // in [0, 1): share of documents assigned to val
  int64_t shard_tokens = 1 << 24;   // tokens per shard file (the last one of a split may hold fewer)
};

struct SplitSummary {
  int64_t documents = 0;
  int64_t tokens = 0;  // eos tokens included
  std::vector<std::string> shards;  // file names inside out_dir
};

struct PrepareSummary {
  std::vector<std::string> input_files;  // what was read, in order
  int64_t input_bytes = 0;
  int64_t vocab_size = 0;
  int32_t eos_id = -1;
  bool trained_tokenizer = false;
  std::string tokenizer_path;  // out_dir/tokenizer.model
  SplitSummary train;
  SplitSummary val;
};

// Deterministic: the same inputs and options give byte-identical tokenizer.model, shards and
// dataset.json. Documents go to val when XXH3-64(document, kSplitSeed) / 2^64 < val_fraction (a
// function of the text alone, so duplicates never straddle the split); when that leaves val (or train)
// empty although there are two or more documents, the document with the smallest (largest) hash
// moves over so that both splits exist.
StatusOr<PrepareSummary> prepare_dataset(const PrepareOptions& options);

}  // namespace tessera
