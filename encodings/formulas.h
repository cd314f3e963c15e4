// The closed-form pieces of the encodings, exposed so tests check them against the
// papers' values by hand.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace pebench {

// ALiBi head slopes by the reference rule (encodings/alibi.cpp).
std::vector<double> alibi_slopes(int64_t heads);
// Sinusoid table [T, d_model] for the given positions (encodings/sinusoidal.cpp).
torch::Tensor sinusoid_table(const torch::Tensor& positions, int64_t d_model,
                             const std::string& layout);
// RoPE θ_i = base^(-2i/d_head), float64 [d_head/2] (encodings/rope.cpp).
torch::Tensor rope_inverse_frequency(int64_t d_head, double base, torch::Device device);
torch::Tensor rotate_half(const torch::Tensor& x);

}  // namespace pebench
