// File-level pieces of the store shared by store.cpp and merge.cpp (serial access).
#pragma once
#include <string>
#include <vector>

#include "results/hdf5.h"
#include "results/store.h"

namespace pebench {

// Opens `path` read-only with the default driver and checks the schema attributes.
Handle open_store_serial(const std::string& path);
std::vector<IndexRow> read_index_rows(hid_t file, const std::string& path);
// Root attributes, an empty growable /index and /runs: a new store's skeleton.
Handle create_store_file(const std::string& path, hid_t access, const StoreHeader& header);
// The root attributes that create_store_file wrote (older stores: study text only).
StoreHeader read_store_header(hid_t file, const std::string& path);
// Sets /index to exactly `rows`.
void write_index_rows(hid_t file, const std::vector<IndexRow>& rows, const std::string& path);

}  // namespace pebench
