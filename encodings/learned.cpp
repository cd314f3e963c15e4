// Learned absolute PE: a trainable table P[p] added to the token embeddings.
// Radford et al. 2018 (GPT). Rows ~ N(0, pe_init_std^2), an init scale kept separate
// from the weights' because it decides how the table extrapolates (Ito et al. 2024).
// The table is sized to the largest eval length; rows past the train length are never
// reached in training and keep their initial values (recorded as facts in the store).
#include "encodings/encoding.h"

namespace pebench {

class LearnedEncodingImpl : public PositionalEncodingImpl {
 public:
  explicit LearnedEncodingImpl(const EncodingOptions& options) : options_(options) {
    table_ = register_parameter(
        "table", torch::randn({options.max_length, options.d_model}) * options.pe_init_std);
  }

  torch::Tensor embed(const torch::Tensor& token_embeddings,
                      const torch::Tensor& positions) override {
    return token_embeddings + table_.index_select(0, positions);
  }
  bool is_additive() const override { return true; }
  torch::Tensor table() const override { return table_; }
  std::vector<std::pair<std::string, int64_t>> facts() const override {
    return {{"pe_table_rows", options_.max_length},
            {"pe_rows_trained", std::min(options_.train_length, options_.max_length)}};
  }

 private:
  EncodingOptions options_;
  torch::Tensor table_;
};

EncodingInfo learned_encoding() {
  EncodingInfo info{"learned", "additive", "trainable absolute table added to token embeddings",
                    "Radford et al. 2018 (GPT); init scale: Ito et al. 2024", false, false, {},
                    [](const EncodingOptions& options) { return std::make_shared<LearnedEncodingImpl>(options); }};
  info.also_reads = {"model.pe_init_std"};
  return info;
}

}  // namespace pebench
