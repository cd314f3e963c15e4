// Serial HDF5 (no MPI needed): each chosen /runs/<id> group is copied whole, object by
// object (copy_group), so datasets that later issues add to a run travel without code here.
#include "results/merge.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "results/store.h"
#include "results/safe_file.h"
#include "results/store_file.h"

namespace pebench {
namespace {

bool finished(const std::string& status) { return status == "done" || status == "diverged"; }

// Every dataset below `group` (relative names) but the summary (timings differ) and the
// compute string (how, not what: the same numbers from another LibTorch or device agree).
std::vector<std::string> dataset_names(hid_t group, const std::string& path) {
  auto names = dataset_paths(group, path);
  names.erase(std::remove_if(names.begin(), names.end(),
                             [](const std::string& name) { return name == "summary" || name == "compute"; }),
              names.end());
  return names;
}

// "" when the two finished copies of a run agree; else what differs.
std::string difference(hid_t a, const std::string& a_path, hid_t b, const std::string& b_path) {
  if (read_string_attribute(a, "config", a_path) != read_string_attribute(b, "config", b_path))
    return "config";
  const auto names = dataset_names(a, a_path);
  if (names != dataset_names(b, b_path)) return "the set of datasets";
  for (const auto& name : names)
    if (raw_bytes(a, name, a_path) != raw_bytes(b, name, b_path)) return name;
  return "";
}

// Why two finished copies may differ: another device or CPU kernel rounds differently
// (FIRE's 5-seed ppl@256 8.083 with OpenBLAS's SkylakeX kernels, 8.084 with Haswell's).
std::string computed_as(const std::string& a, const std::string& b) {
  if (a == b) return a.empty() ? "" : " (both computed as '" + a + "')";
  return " (computed as '" + a + "' and as '" + b +
         "': another device or CPU kernel moves the last digits, README 'Conventions that change numbers')";
}

}  // namespace

MergeSummary merge_stores(const std::vector<std::string>& inputs, const std::string& output) {
  struct Source {
    size_t input;
    IndexRow row;
  };
  std::vector<Handle> files;
  std::vector<std::map<std::string, std::string>> computes;  // per input: run id -> compute, as read_store read it
  std::vector<std::string> order;  // run ids by first appearance
  std::map<std::string, Source> chosen;
  MergeSummary summary;
  for (size_t i = 0; i < inputs.size(); ++i) {
    // read_store refuses a damaged input (a dataset larger than its file, a missing curve) before copying.
    computes.emplace_back();
    for (const auto& run : read_store(inputs[i]).runs) computes.back()[run.row.run_id] = run.compute;
    files.push_back(open_store_serial(inputs[i]));
    for (const auto& row : read_index_rows(files.back(), inputs[i])) {
      auto found = chosen.find(row.run_id);
      if (found == chosen.end()) {
        chosen[row.run_id] = {i, row};
        order.push_back(row.run_id);
        continue;
      }
      ++summary.duplicates;
      Source& kept = found->second;
      if (!finished(row.status)) continue;
      if (!finished(kept.row.status)) {
        kept = {i, row};
        continue;
      }
      const std::string group_path = "/runs/" + row.run_id;
      const std::string differs = difference(open_group(files[kept.input], group_path), inputs[kept.input] + ":" + group_path,
                                             open_group(files[i], group_path), inputs[i] + ":" + group_path);
      if (!differs.empty())
        throw StoreError("run " + row.run_id + " is finished in both '" + inputs[kept.input] + "' and '" + inputs[i] +
                         "' with different " + differs +
                         computed_as(computes[kept.input].at(row.run_id), computes[i].at(row.run_id)) +
                         "; merge refuses conflicting duplicates");
    }
  }

  const std::string partial = output + ".partial";
  try {
    create_exclusively(partial);  // HDF5 truncates it: never a file a symlink there points to
  } catch (const FileError& error) {
    throw StoreError(error.what());
  }
  try {
    Handle file = create_store_file(partial, H5P_DEFAULT, read_store_header(files.front(), inputs.front()));
    std::vector<IndexRow> rows;
    for (const auto& run_id : order) {
      const Source& source = chosen[run_id];
      const std::string group_path = "/runs/" + run_id;
      copy_group(files[source.input], file, group_path, inputs[source.input] + ":");
      rows.push_back(source.row);
    }
    write_index_rows(file, rows, partial);
    summary.runs = static_cast<int64_t>(rows.size());
  } catch (...) {
    std::remove(partial.c_str());
    throw;
  }
  std::filesystem::rename(partial, output);
  return summary;
}

}  // namespace pebench
