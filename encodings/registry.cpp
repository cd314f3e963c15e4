#include "encodings/registry.h"

// Adding an encoding: one file in encodings/ defining `EncodingInfo NAME_encoding()`,
// and its name in this list.
#define PEBENCH_ENCODINGS(X) \
  X(none)                    \
  X(sinusoidal)              \
  X(learned)                 \
  X(rope)                    \
  X(alibi)

namespace pebench {

#define PEBENCH_DECLARE(name) EncodingInfo name##_encoding();
PEBENCH_ENCODINGS(PEBENCH_DECLARE)
#undef PEBENCH_DECLARE

const std::vector<EncodingInfo>& encoding_registry() {
#define PEBENCH_LIST(name) name##_encoding(),
  static const std::vector<EncodingInfo> registry{PEBENCH_ENCODINGS(PEBENCH_LIST)};
#undef PEBENCH_LIST
  return registry;
}

const EncodingInfo* find_encoding(const std::string& name) {
  for (const auto& info : encoding_registry())
    if (info.name == name) return &info;
  return nullptr;
}

std::string encoding_names_joined(const std::string& separator) {
  std::string joined;
  for (const auto& info : encoding_registry()) {
    if (!joined.empty()) joined += separator;
    joined += info.name;
  }
  return joined;
}

}  // namespace pebench
