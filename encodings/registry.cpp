#include "encodings/registry.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

// Adding an encoding: one file in encodings/ defining `EncodingInfo NAME_encoding()`
// (with the encoding.* keys it reads in EncodingInfo::keys), and its name in this list.
#define PEBENCH_ENCODINGS(X) \
  X(none)                    \
  X(sinusoidal)              \
  X(learned)                 \
  X(rope)                    \
  X(xpos)                    \
  X(alibi)                   \
  X(sandwich)                \
  X(t5)                      \
  X(kerple_log)              \
  X(kerple_power)            \
  X(fire)

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

EncodingInfo randomized_encoding(const EncodingInfo& base);

const EncodingInfo* find_encoding(const std::string& name) {
  for (const auto& info : encoding_registry())
    if (info.name == name) return &info;
  // randomized:<base> wraps any registered encoding; each is built once and kept.
  const std::string prefix = "randomized:";
  if (name.rfind(prefix, 0) != 0) return nullptr;
  const std::string base_name = name.substr(prefix.size());
  auto base = std::find_if(encoding_registry().begin(), encoding_registry().end(),
                           [&](const EncodingInfo& info) { return info.name == base_name; });
  if (base == encoding_registry().end()) return nullptr;
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<EncodingInfo>> wrapped;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = wrapped[name];
  if (!slot) slot = std::make_unique<EncodingInfo>(randomized_encoding(*base));
  return slot.get();
}

const std::vector<OptionKey>& encoding_keys() {
  static const std::vector<OptionKey> keys = [] {
    std::map<std::string, OptionKey> by_name;
    for (const auto& key : randomized_keys()) by_name.emplace(key.name, key);
    for (const auto& info : encoding_registry())
      for (const auto& key : info.keys) by_name.emplace(key.name, key);
    std::vector<OptionKey> out;
    for (const auto& [name, key] : by_name) out.push_back(key);
    return out;
  }();
  return keys;
}

std::string encoding_names_joined(const std::string& separator) {
  std::string joined;
  for (const auto& info : encoding_registry()) {
    if (!joined.empty()) joined += separator;
    joined += info.name;
  }
  return joined + separator + "randomized:<any of these>";
}

}  // namespace pebench
