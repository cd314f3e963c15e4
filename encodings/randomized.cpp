// Randomized positional encodings: wrap any encoding and, instead of 0..n-1, feed it n
// sorted distinct integers drawn uniformly from [0, max_position), shared by the batch,
// so training touches positions up to max_position and longer eval sequences stay in
// range. Ruoss et al. 2023, "Randomized Positional Encodings Boost Length Generalization
// of Transformers", arXiv 2305.16843.
// When draws happen (encoding.random_draw), as google-deepmind/randomized_positional_
// encodings (models/transformer.py, positional_encodings.py) does by default, per_layer:
//   additive bases (sinusoidal, learned): one draw per forward (there is one table);
//   rotary bases (rope, xpos) and fire: one position draw per attention layer;
//   relative bias bases (alibi, sandwich, t5, kerple_*): one draw of n-1 sorted distinct
//     distances D_1 < ... < D_{n-1} from [1, max_position) per layer, and the bias at
//     distance i - j = d is the base's bias at D_d (D_0 = 0), as the reference's noisy
//     ALiBi. The reference adds 0.5 to one side to tell left from right in its
//     non-causal encoder; a causal decoder sees one side only, so we do not.
// per_forward is pebench's first form: one position draw per forward for every layer.
// The reference has noisy variants of sin/cos, learned, RoPE, ALiBi and Transformer-XL
// only; the rule above extends them to our other bases by their kind.
// max_position defaults to the largest eval length. Eval positions are sampled too
// (encoding.random_eval_positions = randomized, the paper's setting) or 0..n-1
// (sequential). Draw k of layer l uses a generator seeded from (seed, k·layers + l) (per
// forward: (seed, k)), so a run is reproducible and a resumed run continues the
// sequence; eval draws restart at every eval.
#include <ATen/CPUGeneratorImpl.h>

#include "encodings/encoding.h"
#include "encodings/formulas.h"
#include "encodings/registry.h"

namespace pebench {
namespace {
const OptionKey kRandomMaxPosition{"encoding.random_max_position", "0",
                                   "0 (the largest eval length) or an integer >= it",
                                   "randomized: positions drawn from [0, this)", ValueKind::non_negative_int};
const OptionKey kRandomEvalPositions{"encoding.random_eval_positions", "randomized", "randomized | sequential",
                                     "randomized: eval positions", ValueKind::choice, {"randomized", "sequential"}};

// What a per-layer draw samples for a base, by how the base uses positions.
enum class Sampling { positions_per_forward, positions_per_layer, distances_per_layer };
Sampling sampling_of(const EncodingInfo& base, bool per_layer) {
  if (!per_layer || base.kind == "additive" || base.kind == "none") return Sampling::positions_per_forward;
  const bool bias = base.kind.size() >= 4 && base.kind.compare(base.kind.size() - 4, 4, "bias") == 0;
  return bias && base.relative ? Sampling::distances_per_layer : Sampling::positions_per_layer;
}

// Counted in the id of randomized runs whose draws per_layer changed (issue 17): per_forward
// is what those runs computed before, so their stores keep their ids.
OptionKey random_draw_key() {
  OptionKey key{"encoding.random_draw", "per_layer", "per_layer | per_forward",
                "randomized: per_layer as the reference (distances for relative biases) or one draw per forward",
                ValueKind::choice, {"per_layer", "per_forward"}, IdRule::when};
  key.counted_when = [](const std::map<std::string, std::string>& values) {
    auto encoding = values.find("encoding"), draw = values.find("encoding.random_draw");
    const std::string prefix = "randomized:";
    if (encoding == values.end() || encoding->second.rfind(prefix, 0) != 0) return false;
    if (draw != values.end() && draw->second != "per_layer") return false;
    const EncodingInfo* base = find_encoding(encoding->second.substr(prefix.size()));
    return base && sampling_of(*base, true) != Sampling::positions_per_forward;
  };
  key.legacy_value = "per_forward";
  return key;
}
const OptionKey kRandomDraw = random_draw_key();
}  // namespace

const std::vector<OptionKey>& randomized_keys() {
  static const std::vector<OptionKey> keys = {kRandomMaxPosition, kRandomEvalPositions, kRandomDraw};
  return keys;
}

namespace {
// Shapes: T tokens of the forward, L layers, H heads.
class RandomizedEncodingImpl : public PositionalEncodingImpl {
 public:
  RandomizedEncodingImpl(const EncodingOptions& options, const EncodingInfo& base)
      : max_position_(options.integer(kRandomMaxPosition) > 0 ? options.integer(kRandomMaxPosition) : options.max_length),
        seed_(options.seed),
        layers_(options.layers),
        eval_randomized_(options.text(kRandomEvalPositions) == "randomized"),
        sampling_(sampling_of(base, options.text(kRandomDraw) == "per_layer")) {
    EncodingOptions base_options = options;
    base_options.max_length = std::max(options.max_length, max_position_);
    base_ = register_module("base", base.make(base_options));
  }

  torch::Tensor embed(const torch::Tensor& x, const torch::Tensor& positions) override {
    return base_->embed(x, positions);
  }
  // Per-layer positions arrive as the layer's row (models/transformer.cpp).
  void rotate(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& positions) override {
    base_->rotate(q, k, positions);
  }
  // Rows per layer [L, T] give [L, H, Tq, Tk], layer l's bias from its own row: the base's
  // bias at those positions, or, for drawn distances, gathered from the base's bias at the
  // row's distances (keys 0..Tk-1, queries the last Tq of them, as models/transformer.cpp's
  // logit_offset asks, query blocks too): the bias at i - j = d is the base's at D_d.
  torch::Tensor bias(const torch::Tensor& query_positions, const torch::Tensor& key_positions) override {
    if (query_positions.dim() == 1) return base_->bias(query_positions, key_positions);
    const bool distances = sampling_ == Sampling::distances_per_layer;
    const int64_t tq = query_positions.size(1), tk = key_positions.size(1);
    TORCH_CHECK(!distances || tq <= tk, "randomized distances: queries must be the last of the keys");
    const auto index_options = key_positions.options();
    torch::Tensor distance, zero;  // [Tq, Tk] token distances; the key at distance 0
    if (distances) {
      distance = causal_distance(torch::arange(tk - tq, tk, index_options), torch::arange(tk, index_options));
      zero = torch::zeros({1}, index_options);
    }
    std::vector<torch::Tensor> layers;
    for (int64_t l = 0; l < layers_; ++l) {
      auto bias = distances ? base_->bias(key_positions[l], zero)  // [(L,) H, Tk, 1]
                            : base_->bias(query_positions[l], key_positions[l]);
      if (!bias.defined()) return {};
      if (bias.dim() == 4) bias = bias[l];
      if (distances)
        bias = bias.squeeze(-1).index_select(1, distance.reshape({-1})).view({bias.size(0), tq, tk});
      layers.push_back(bias);
    }
    return torch::stack(layers);
  }
  bool is_additive() const override { return base_->is_additive(); }
  // No eval-time length scaling: training already covered positions up to max_position.
  torch::Tensor table() const override { return base_->table(); }

  // [T] (one draw per forward) or [L, T]: per layer, its positions, or its distance
  // table D (D_d = the distance that stands for i - j = d).
  torch::Tensor positions(int64_t length, torch::Device device) override {
    if (!is_training() && !eval_randomized_) return PositionalEncodingImpl::positions(length, device);
    TORCH_CHECK(length <= max_position_, "randomized positions: ", length, " tokens need max_position >= ", length,
                " (it is ", max_position_, ")");
    const uint64_t draw = (is_training() ? train_draws_ : eval_draws_)++;
    if (sampling_ == Sampling::positions_per_forward) return upload(draw_positions(draw, length), device);
    std::vector<torch::Tensor> rows;
    for (int64_t l = 0; l < layers_; ++l) {
      const uint64_t index = draw * static_cast<uint64_t>(layers_) + static_cast<uint64_t>(l);
      rows.push_back(sampling_ == Sampling::positions_per_layer ? draw_positions(index, length)
                                                                : draw_distances(index, length));
    }
    return upload(torch::stack(rows), device);
  }

  bool draws_positions() const override { return is_training() || eval_randomized_; }

  void resume_training_at(int64_t steps) override { train_draws_ = static_cast<uint64_t>(steps); }

  void train(bool on) override {
    if (!on) eval_draws_ = 0;  // every eval sees the same positions
    PositionalEncodingImpl::train(on);
  }

  std::vector<std::pair<std::string, int64_t>> facts() const override {
    auto facts = base_->facts();
    facts.push_back({"random_max_position", max_position_});
    facts.push_back({"random_eval_positions", eval_randomized_});
    // Absent: one position draw per forward (also what additive bases do per_layer).
    if (sampling_ != Sampling::positions_per_forward)
      facts.push_back({"random_draw", sampling_ == Sampling::positions_per_layer ? 1 : 2});
    return facts;
  }

 private:
  // Generator of draw `index`; training and eval draw from separate streams.
  at::Generator generator(uint64_t index) const {
    const uint64_t stream = is_training() ? 0x9e3779b97f4a7c15ull : 0xc2b2ae3d27d4eb4full;
    return at::make_generator<at::CPUGeneratorImpl>(seed_ * 0x100000001b3ull ^ stream ^ index);
  }
  // `length` sorted distinct positions from [0, max_position), on the CPU.
  torch::Tensor draw_positions(uint64_t index, int64_t length) const {
    auto drawn = torch::randperm(max_position_, generator(index), torch::TensorOptions().dtype(torch::kLong));
    return std::get<0>(drawn.slice(0, 0, length).sort());
  }
  // D [length]: D_0 = 0, then length-1 sorted distinct distances from [1, max_position).
  torch::Tensor draw_distances(uint64_t index, int64_t length) const {
    auto drawn = torch::randperm(max_position_ - 1, generator(index), torch::TensorOptions().dtype(torch::kLong));
    auto distances = std::get<0>(drawn.slice(0, 0, length - 1).sort()) + 1;
    return torch::cat({torch::zeros({1}, torch::kLong), distances});
  }
  int64_t max_position_;
  uint64_t seed_;
  int64_t layers_;
  bool eval_randomized_;
  Sampling sampling_;
  uint64_t train_draws_ = 0, eval_draws_ = 0;
  std::shared_ptr<PositionalEncodingImpl> base_;
};
}  // namespace

EncodingInfo randomized_encoding(const EncodingInfo& base) {
  EncodingInfo info = base;
  info.name = "randomized:" + base.name;
  info.kind = "position sampler (" + base.kind + ")";
  info.summary = base.name + " on sorted random positions from [0, max_position)";
  info.paper = "Ruoss et al. 2023, arXiv 2305.16843";
  info.extrapolates = true;
  info.keys = randomized_keys();
  info.keys.insert(info.keys.end(), base.keys.begin(), base.keys.end());
  info.make = [base](const EncodingOptions& options) {
    return std::make_shared<RandomizedEncodingImpl>(options, base);
  };
  info.check = [base](const EncodingOptions& options) -> std::string {
    if (options.integer(kRandomMaxPosition) > 0 && options.integer(kRandomMaxPosition) < options.max_length)
      return "encoding.random_max_position must be 0 (the largest eval length) or >= the largest eval length " +
             std::to_string(options.max_length);
    return base.check(options);
  };
  return info;
}

}  // namespace pebench
