// `pebench report`: one self-contained HTML file per study (inline CSS and SVG charts,
// no scripts, no external resources): perplexity vs length with 95% CI bands, per-position
// loss, receptive-field curves, attention by distance, bias profiles, position probes,
// training curves, the comparison table and every run's config. Every string taken
// from a store is escaped.
#pragma once
#include <string>
#include <vector>

#include "results/compare.h"

namespace pebench {

struct ReportOptions {
  CompareOptions compare;               // grouping (--by, --where) and --tolerance
  std::vector<std::string> store_paths;  // shown in the header, in the order of the stores
};

std::string html_report(const std::vector<StoreContents>& stores, const ReportOptions& options);

}  // namespace pebench
