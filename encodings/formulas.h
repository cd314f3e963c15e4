// The closed-form pieces of the encodings, exposed so tests check them against the
// papers' values by hand.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

#include "encodings/option_key.h"

namespace pebench {

// encoding.rope_base: declared in rope.cpp, read by rope and xpos.
extern const OptionKey kRopeBase;

// ALiBi head slopes by the reference rule (encodings/alibi.cpp).
std::vector<double> alibi_slopes(int64_t heads);
// Sinusoid table [T, d_model] for the given positions (encodings/sinusoidal.cpp).
torch::Tensor sinusoid_table(const torch::Tensor& positions, int64_t d_model,
                             const std::string& layout);
// RoPE θ_i = base^(-2i/d_head), float64 [d_head/2] (encodings/rope.cpp).
torch::Tensor rope_inverse_frequency(int64_t d_head, double base, torch::Device device);
torch::Tensor rotate_half(const torch::Tensor& x);
// q ← q·cos + rotate_half(q)·sin and the same for k (rope.cpp), in one set of ops over the
// two stacked: 6 kernels forward where two rotations launch 10, and about half their
// backward (BENCHMARKS.md §7: a d128 L2 rope step went from 172 kernel ops to 144). Each element is
// computed by the same ops as alone, so the numbers are the same to the bit. cos, sin:
// [T, d_head] for both, or [2, 1, 1, T, d_head] with q's first and then k's.
void rotate_pair(torch::Tensor& q, torch::Tensor& k, const torch::Tensor& cos, const torch::Tensor& sin);
// RoPE angles p·θ_i for half-split pairs: [T, d_head] float64, each angle twice (rope.cpp).
torch::Tensor rope_angles(const torch::Tensor& positions, const torch::Tensor& inverse_frequency);
// RoPE θ after eval-time length scaling by s = eval_length / train_length (rope.cpp):
// pi θ/s; ntk base·s^(d/(d-2)); yarn, yarn_paper the per-dimension blends of θ/s and θ
// (rope.cpp's header; α = beta_slow, β = beta_fast). s <= 1: θ.
torch::Tensor rope_scaled_frequency(const std::string& variant, int64_t d_head, double base,
                                    double scale, int64_t train_length, double beta_slow = 1,
                                    double beta_fast = 32);
// The share of θ_i that yarn (index ramp) or yarn_paper (turns ramp) keeps, [d_head/2].
torch::Tensor yarn_kept_share(const std::string& variant, int64_t d_head, double base, int64_t train_length,
                              double beta_slow, double beta_fast);
// YaRN's (both variants') factor on q and k (so logits scale by its square): 0.1·ln s + 1; 1 otherwise.
double rope_attention_factor(const std::string& variant, double scale);
// T5 causal bucket of each distance >= 0 (t5.cpp).
torch::Tensor t5_bucket(const torch::Tensor& distance, int64_t buckets, int64_t max_distance);
// Sandwich bias [heads, n] at the given distances (sandwich.cpp).
torch::Tensor sandwich_bias(const torch::Tensor& distance, int64_t dim, int64_t heads);
// xPos per-dimension decay ζ_j = (2j/d + 0.4)/1.4, j = 0..d/2-1, float64 (xpos.cpp).
torch::Tensor xpos_decay(int64_t d_head, torch::Device device);
// max(q - k, 0) as int64 [Tq, Tk] (encoding.cpp).
torch::Tensor causal_distance(const torch::Tensor& query_positions, const torch::Tensor& key_positions);

}  // namespace pebench
