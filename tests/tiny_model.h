// A small TransformerLM for tests: one place that wires encoding and model options.
#pragma once
#include <string>

#include "encodings/registry.h"
#include "models/transformer.h"

namespace pebench {

struct TinyModel {
  std::string encoding = "none";
  int64_t d_model = 32, heads = 4, layers = 2;
  int64_t train_length = 16, max_length = 128;
  double init_gamma = 0.5;
  std::string init_scope = "weights";
  bool tie_embeddings = true;
  int64_t attention_block = 0;
  int64_t attention_window = 0;
  uint64_t seed = 3;
  EncodingOptions encoding_options;  // the rest of the encoding's options

  TransformerLM build() const {
    EncodingOptions encoding_options = this->encoding_options;
    encoding_options.d_model = d_model;
    encoding_options.heads = heads;
    encoding_options.layers = layers;
    encoding_options.train_length = train_length;
    encoding_options.max_length = max_length;
    encoding_options.seed = seed;
    TransformerLMOptions options;
    options.d_model = d_model;
    options.heads = heads;
    options.layers = layers;
    options.init_gamma = init_gamma;
    options.init_scope = init_scope;
    options.tie_embeddings = tie_embeddings;
    options.attention_block = attention_block;
    options.attention_window = attention_window;
    torch::manual_seed(seed);
    return TransformerLM(options, find_encoding(encoding)->make(encoding_options));
  }
};

}  // namespace pebench
