// The canonical config text of a run, "key = value" lines sorted by key: written by the
// harness (harness/study.cpp, RunConfig::canonical_text) into the store, read back by
// resume, compare, report and the Python loader. One codec for both directions.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>

namespace pebench {

inline std::string config_line(const std::string& key, const std::string& value) {
  return key + " = " + value + "\n";
}

// Key → value of every "key = value" line; other lines are ignored.
inline std::map<std::string, std::string> parse_config_text(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto equals = line.find(" = ");
    if (equals != std::string::npos) values[line.substr(0, equals)] = line.substr(equals + 3);
  }
  return values;
}

// The integer value of `key`, when the config has it and it is one (the whole text).
inline std::optional<int64_t> config_integer(const std::map<std::string, std::string>& config, const std::string& key) {
  auto found = config.find(key);
  if (found == config.end() || found->second.empty()) return std::nullopt;
  char* end = nullptr;
  const long long value = std::strtoll(found->second.c_str(), &end, 10);
  if (*end != '\0') return std::nullopt;
  return static_cast<int64_t>(value);
}

inline std::string format_config_text(const std::map<std::string, std::string>& values) {
  std::string text;
  for (const auto& [key, value] : values) text += config_line(key, value);
  return text;
}

}  // namespace pebench
