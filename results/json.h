// JSON text for what results/ writes (compare --format json, export's config.json and the
// safetensors header): one string encoder, used everywhere.
#pragma once
#include <cstdio>
#include <string>

namespace pebench {

// A JSON string literal: quotes and backslashes escaped, control characters as \uXXXX
// (\n as \n), so no byte below 0x20 reaches the output raw.
inline std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace pebench
