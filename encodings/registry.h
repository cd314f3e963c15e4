// The encoding registry: name → factory, summary, paper, whether it extrapolates.
#pragma once
#include "encodings/encoding.h"

namespace pebench {

const std::vector<EncodingInfo>& encoding_registry();
// nullptr when no encoding has that name.
const EncodingInfo* find_encoding(const std::string& name);
std::string encoding_names_joined(const std::string& separator = ", ");
// Every encoding.* key any encoding (or the randomized wrapper) declares, once each, by
// name. Two encodings declaring one name must declare the same key (tested).
const std::vector<OptionKey>& encoding_keys();
// The keys of the randomized:<base> wrapper itself (encodings/randomized.cpp).
const std::vector<OptionKey>& randomized_keys();

}  // namespace pebench
