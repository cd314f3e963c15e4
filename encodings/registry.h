// The encoding registry: name → factory, summary, paper, whether it extrapolates.
#pragma once
#include "encodings/encoding.h"

namespace pebench {

const std::vector<EncodingInfo>& encoding_registry();
// nullptr when no encoding has that name.
const EncodingInfo* find_encoding(const std::string& name);
std::string encoding_names_joined(const std::string& separator = ", ");

}  // namespace pebench
