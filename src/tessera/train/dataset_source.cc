#include "tessera/train/dataset_source.h"

#include "tessera/data/data_loader.h"
#include "tessera/data/token_dataset.h"

namespace tessera {

namespace {

class DatasetSource final : public BatchSource {
 public:
  explicit DatasetSource(DataLoader loader) : loader_(std::move(loader)) {}
  void next_batch(int64_t count, int32_t* inputs, int32_t* targets) override {
    loader_.next_batch(count, inputs, targets);
  }
  void read_samples(int64_t first, int64_t count, int32_t* inputs, int32_t* targets) const override {
    loader_.read_samples(first, count, inputs, targets);
  }
  void seek(int64_t next_sample) override { loader_.set_next_sample(next_sample); }
  void save_state(StateWriter& writer) const override { loader_.save_state(writer); }
  Status load_state(StateReader& reader) override { return loader_.load_state(reader); }

 private:
  DataLoader loader_;
};

}  // namespace

StatusOr<std::unique_ptr<BatchSource>> open_dataset_source(const std::string& dir, const std::string& split,
                                                           const ModelSpec& model, int64_t seed, bool shuffle) {
  TESSERA_ASSIGN_OR_RETURN(TokenDataset dataset, TokenDataset::open(dir, split, 0));
  if (dataset.vocab_size() > model.vocab_size) {
    return invalid_argument_error(
        "data '{}': the tokenizer's vocab size {} > model.vocab_size {}; hint: set model.vocab_size = {}", dir,
        dataset.vocab_size(), model.vocab_size, dataset.vocab_size());
  }
  TESSERA_ASSIGN_OR_RETURN(DataLoader loader, DataLoader::create(std::move(dataset), model.seq_len,
                                                                 static_cast<uint64_t>(seed), shuffle, "loader." + split));
  return std::unique_ptr<BatchSource>(std::make_unique<DatasetSource>(std::move(loader)));
}

}  // namespace tessera
