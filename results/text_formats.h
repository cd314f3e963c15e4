// Text from a store or a user (run ids, configs, hosts, paths, values) on its way out, one
// helper per format, so no control character reaches a terminal raw: an escape sequence
// in a run id cannot clear the screen or retitle the window, and a newline cannot split a
// row or a one-line error. (JSON: results/json.h; HTML: escape_html in results/chart.h.)
#pragma once
#include <cstdio>
#include <string>

namespace pebench {

// Control bytes (below 0x20, and 0x7f) as visible \xNN; `keep` names the ones left alone.
inline std::string visible_controls(const std::string& text, const std::string& keep = "") {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 || byte == 0x7f) && keep.find(c) == std::string::npos) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

inline bool has_control(const std::string& text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) return true;
  return false;
}

// A cell of a terminal table (compare, inspect): every control byte visible.
inline std::string terminal_text(const std::string& text) { return visible_controls(text); }

// A message that must stay one line (errors): newlines and every other control byte visible.
inline std::string one_line(const std::string& text) { return visible_controls(text); }

// A markdown table cell: controls visible, '|' escaped.
inline std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : visible_controls(text)) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

// A CSV field (RFC 4180): quoted when it holds a comma, quote or newline; quotes
// doubled; other control bytes visible (a CSV file is often looked at in a terminal).
inline std::string csv_field(const std::string& text) {
  const std::string value = visible_controls(text, "\n");
  if (value.find_first_of(",\"\n\r") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace pebench
