// NoPE: no positional information at all; causal masking alone lets the model infer
// position. Kazemnejad et al. 2023, "The Impact of Positional Encoding on Length
// Generalization in Transformers", arXiv 2305.19466.
#include "encodings/encoding.h"

namespace pebench {

class NoEncodingImpl : public PositionalEncodingImpl {};

EncodingInfo none_encoding() {
  return {"none", "none", "no positional encoding (NoPE); causal mask only",
          "Kazemnejad et al. 2023, arXiv 2305.19466", true, true, {},
          [](const EncodingOptions&) { return std::make_shared<NoEncodingImpl>(); }};
}

}  // namespace pebench
