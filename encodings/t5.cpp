// T5 relative bias: a learned scalar per (bucket, head) added to the logits, where the
// causal distance i - j is bucketed: distances below B/2 get their own bucket, larger
// ones log-spaced up to max_distance, everything beyond shares the last bucket:
//   bucket(d) = d                                              for d < B/2
//             = min(B-1, B/2 + ⌊ln(d/(B/2)) / ln(max/(B/2)) · B/2⌋)  otherwise.
// Raffel et al. 2020, "Exploring the Limits of Transfer Learning", arXiv 1910.10683;
// the bucket function of HF's T5Attention / gpt-neox with bidirectional = False.
// Defaults B = 32, max_distance = 128: every d >= 113 lands in bucket 31. Unlike T5,
// the bias is added after the 1/sqrt(d_head) scaling (as every bias here). Init
// N(0, d_model^-1/2) as HF initializes relative_attention_bias.
#include "encodings/encoding.h"
#include "encodings/formulas.h"

#include <cmath>

namespace pebench {
namespace {
const OptionKey kT5Buckets{"encoding.t5_buckets", "32", "an integer >= 2", "T5 distance buckets", ValueKind::positive_int};
const OptionKey kT5MaxDistance{"encoding.t5_max_distance", "128", "a positive integer",
                               "T5: distances from here share the last bucket", ValueKind::positive_int};
}  // namespace

torch::Tensor t5_bucket(const torch::Tensor& distance, int64_t buckets, int64_t max_distance) {
  const int64_t exact = buckets / 2;
  auto scaled = torch::log(distance.to(torch::kFloat64) / static_cast<double>(exact)) /
                std::log(static_cast<double>(max_distance) / static_cast<double>(exact)) *
                static_cast<double>(buckets - exact);
  // Small distances give log(0) = -inf here; where() keeps them exact instead.
  auto large = (scaled.clamp(-1, static_cast<double>(buckets)).to(torch::kLong) + exact).clamp_max(buckets - 1);
  return torch::where(distance < exact, distance, large);
}

class T5EncodingImpl : public PositionalEncodingImpl {
 public:
  explicit T5EncodingImpl(const EncodingOptions& options)
      : options_(options), buckets_(options.integer(kT5Buckets)), max_distance_(options.integer(kT5MaxDistance)),
        share_(options.flag(kShareAcrossLayers)) {
    const int64_t sets = share_ ? 1 : options.layers;
    weight_ = register_parameter(
        "bucket_bias", torch::randn({sets, options.heads, buckets_}) /
                           std::sqrt(static_cast<double>(options.d_model)));
  }

  torch::Tensor bias(const torch::Tensor& query_positions, const torch::Tensor& key_positions) override {
    // Buckets depend only on the positions: cached; the learned values are read per forward.
    if (cached_for_.changed(query_positions, key_positions))
      cached_buckets_ = t5_bucket(causal_distance(query_positions, key_positions), buckets_, max_distance_);
    const auto tq = cached_buckets_.size(0), tk = cached_buckets_.size(1);
    auto bias = weight_.index_select(2, cached_buckets_.reshape({-1})).view({weight_.size(0), -1, tq, tk});
    return share_ ? bias.squeeze(0) : bias;
  }

  std::vector<std::pair<std::string, int64_t>> facts() const override {
    return {{"t5_buckets", buckets_}, {"t5_max_distance", max_distance_}, {"share_across_layers", share_}};
  }

 private:
  EncodingOptions options_;
  int64_t buckets_, max_distance_;
  bool share_;
  torch::Tensor weight_, cached_buckets_;
  PositionPairKey cached_for_;
};

EncodingInfo t5_encoding() {
  EncodingInfo info{"t5", "learned bias", "learned logit bias per (log-spaced distance bucket, head)",
                    "Raffel et al. 2020, arXiv 1910.10683", true, true,
                    {kT5Buckets, kT5MaxDistance, kShareAcrossLayers},
                    [](const EncodingOptions& options) { return std::make_shared<T5EncodingImpl>(options); }};
  info.check = [](const EncodingOptions& options) -> std::string {
    if (options.integer(kT5Buckets) < 2 || options.integer(kT5MaxDistance) <= options.integer(kT5Buckets) / 2)
      return "encoding.t5_max_distance must exceed encoding.t5_buckets / 2, and t5_buckets be >= 2";
    return "";
  };
  return info;
}

}  // namespace pebench
