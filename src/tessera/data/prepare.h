// prepare_dataset: text files → tokenizer → token shards + dataset.json, the work behind
// `tessera data prepare` (docs/data_format.md describes what lands in out_dir).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

struct PrepareOptions {
  std::vector<std::string> inputs;  // files or directories (see list_corpus_files)
  // Created if missing (and removed again if a failed prepare leaves it empty); existing shards of a
  // former run are replaced. Must not overlap an input (see prepare_dataset).
  std::string out_dir;
  int64_t vocab_size = 8192;        // of the tokenizer trained here; ignored when `tokenizer` is set
  std::string tokenizer;            // an existing .model to reuse; empty = train one on the inputs
  double val_fraction = 0.05;       // in [0, 1): share of documents assigned to val
  int64_t shard_tokens = 1 << 24;   // tokens per shard file (the last one of a split may hold fewer)
  // At most this many bytes of documents train the tokenizer: all of them when they fit, otherwise a
  // deterministic sample (see prepare_dataset). Bounds the memory of tokenizer training.
  int64_t tokenizer_sample_bytes = int64_t{256} << 20;
  // Files are read in chunks of this many bytes (tests use tiny ones).
  int64_t read_chunk_bytes = int64_t{1} << 20;
  // Test hook: called after the first pass over the inputs, before the out_dir changes.
  std::function<void()> after_first_pass;
};

struct SplitSummary {
  int64_t documents = 0;
  int64_t tokens = 0;  // eos tokens included
  std::vector<std::string> shards;  // file names inside out_dir
};

struct PrepareSummary {
  std::vector<std::string> input_files;  // what was read, in order
  int64_t input_bytes = 0;
  int64_t documents = 0;       // in the corpus (train + val)
  int64_t document_bytes = 0;  // their text, without separators
  int64_t vocab_size = 0;
  int32_t eos_id = -1;
  bool trained_tokenizer = false;
  int64_t tokenizer_sample_documents = 0;  // what the tokenizer was trained on (0 when reused)
  int64_t tokenizer_sample_bytes = 0;
  std::string tokenizer_path;  // out_dir/tokenizer.model
  SplitSummary train;
  SplitSummary val;
};

// Deterministic: the same inputs and options give byte-identical tokenizer.model, shards and
// dataset.json. Documents go to val when XXH3-64(document, kSplitSeed) / 2^64 < val_fraction (a
// function of the text alone, so duplicates never straddle the split); when that leaves val (or train)
// empty although there are two or more documents, the document with the smallest (largest) hash
// moves over so that both splits exist.
//
// Memory does not grow with the corpus: the files are read in chunks, one document at a time, in
// passes. Pass 1 records each file's size and checksum, counts documents and bytes, and notes the
// documents the edge rule would move. The tokenizer trains on a sample of at most
// tokenizer_sample_bytes: every document when they all fit (then collected during pass 1), else the
// documents with XXH3-64(document, kSampleSeed) / 2^64 < budget / document bytes, as long as they fit
// (one more pass). The last pass encodes each document into its split's shards. A re-read file whose
// size or checksum differs from pass 1 fails prepare (and leaves no dataset.json).
//
// Refused before anything is created or removed: bad options, a missing or binary input, an out_dir
// that is an input, lies inside an input directory or holds an input (paths resolved, symlinks
// followed), and a `tokenizer` that does not load.
StatusOr<PrepareSummary> prepare_dataset(const PrepareOptions& options);

}  // namespace tessera
