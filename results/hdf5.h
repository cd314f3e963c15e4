// Thin RAII wrappers over the HDF5 C API (in the spirit of HighFive): identifiers that
// close themselves, errors thrown as StoreError with the object's path, and one checked
// helper per C call the store makes. This is the only file that calls HDF5: a test
// (tests/results/hdf5_calls_test.sh) fails on any H5*() call elsewhere in results/.
// Only results/ includes this.
#pragma once
#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "results/store.h"

namespace pebench {

// The innermost message of the current HDF5 error stack.
inline std::string hdf5_message() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD,
           [](unsigned, const H5E_error2_t* error, void* out) -> herr_t {
             auto* text = static_cast<std::string*>(out);
             if (text->empty() && error->desc) *text = error->desc;
             return 0;
           },
           &message);
  H5Eclear2(H5E_DEFAULT);
  if (message.empty()) return "HDF5 error";
  // A failed system call is described over several lines ("file write failed: time = ...\n,
  // filename = ..., errno = 28, error message = 'No space left on device', ..."): keep its
  // first words and the system's reason.
  const auto reason = message.find("error message = '");
  if (reason != std::string::npos) {
    const auto end = message.find('\'', reason + 17);
    return message.substr(0, message.find(':')) + ": " + message.substr(reason + 17, end - reason - 17);
  }
  return message;
}

// HDF5 prints its own error stacks unless told not to; we throw instead.
inline void quiet_hdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

template <typename T>
T check(T status, const std::string& what, const std::string& path) {
  if (status < 0) throw StoreError(what + " '" + path + "': " + hdf5_message());
  return status;
}
// H5Tget_size says failure with 0.
inline size_t type_size(hid_t type, const std::string& path) {
  const size_t size = H5Tget_size(type);
  if (size == 0) throw StoreError("size of the type of '" + path + "': " + hdf5_message());
  return size;
}

// An HDF5 identifier that closes itself.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*closer)(hid_t), const std::string& what, const std::string& path)
      : id_(check(id, what, path)), closer_(closer) {}
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  Handle& operator=(Handle&& other) noexcept {
    reset();
    std::swap(id_, other.id_);
    std::swap(closer_, other.closer_);
    return *this;
  }
  ~Handle() { reset(); }
  operator hid_t() const { return id_; }
  void reset() {
    if (id_ >= 0) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  herr_t (*closer_)(hid_t) = nullptr;
};

inline Handle string_type(size_t length) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose, "copy string type", "");
  check(H5Tset_size(type, std::max<size_t>(1, length)), "size string type", "");
  check(H5Tset_strpad(type, H5T_STR_NULLPAD), "pad string type", "");
  return type;
}

template <typename T>
hid_t native_type();
template <>
inline hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
inline hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }
template <>
inline hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <>
inline hid_t native_type<uint8_t>() { return H5T_NATIVE_UINT8; }

// A field of a compound type: its name, byte offset and type (a native or string type).
struct CompoundField {
  const char* name;
  size_t offset;
  hid_t type;
};
inline Handle compound_type(size_t size, const std::vector<CompoundField>& fields, const std::string& path) {
  Handle type(H5Tcreate(H5T_COMPOUND, size), H5Tclose, "create type", path);
  for (const auto& field : fields)
    check(H5Tinsert(type, field.name, field.offset, field.type), std::string("insert field ") + field.name + " for", path);
  return type;
}

// Refuses to read `count` values of `value_bytes` each when they are more bytes than the
// whole file holds. A crafted or damaged header can declare any extent (2^40 doubles in a
// 100 KB file); pebench allocates every dataset in full when it creates it and never
// compresses, so a real store's data always fits in its file.
inline void check_fits_in_file(hid_t object, int64_t count, size_t value_bytes, const std::string& path) {
  Handle file(H5Iget_file_id(object), H5Fclose, "file of", path);
  hsize_t file_bytes = 0;
  check(H5Fget_filesize(file, &file_bytes), "size of the file of", path);
  if (count < 0 || static_cast<double>(count) * static_cast<double>(value_bytes) > static_cast<double>(file_bytes))
    throw StoreError("'" + path + "' declares " + std::to_string(count) + " values of " + std::to_string(value_bytes) +
                     " bytes, more than the whole file (" + std::to_string(file_bytes) + " bytes) holds");
}
// ---- files and groups ------------------------------------------------------------

inline bool is_hdf5_file(const std::string& path) {
  quiet_hdf5();
  const htri_t answer = H5Fis_hdf5(path.c_str());
  if (answer < 0) H5Eclear2(H5E_DEFAULT);
  return answer > 0;
}
// access: H5P_DEFAULT (serial) or mpio_access().
inline Handle open_file(const std::string& path, bool read_write, hid_t access = H5P_DEFAULT) {
  quiet_hdf5();
  return Handle(H5Fopen(path.c_str(), read_write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, access), H5Fclose, "open store", path);
}
// New stores use the HDF5 1.8 file format, not the 1.0 default: its object headers and
// superblock carry checksums, so damaged metadata is refused with an error instead of parsed
// (HDF5 1.10.8 crashed inside H5Aexists on 1 of 3,200 fuzzed old-format stores, on none of
// 3,200 new-format ones; tests/hostile/store_fuzz.cpp), and attributes may exceed
// 64 KiB (a study file up to the 1 MiB pebench accepts). Readable by HDF5 >= 1.8 and h5py.
inline Handle create_file(const std::string& path, hid_t access = H5P_DEFAULT) {
  quiet_hdf5();
  Handle properties(access == H5P_DEFAULT ? H5Pcreate(H5P_FILE_ACCESS) : H5Pcopy(access), H5Pclose, "property list", path);
  check(H5Pset_libver_bounds(properties, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "set the file format of", path);
  return Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, properties), H5Fclose, "create store", path);
}
// File access through MPI-IO: every rank of `comm` opens the file together.
inline Handle mpio_access(MPI_Comm comm, const std::string& path) {
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "property list", path);
  check(H5Pset_fapl_mpio(access, comm, MPI_INFO_NULL), "set MPI-IO driver for", path);
  return access;
}
inline void flush_file(hid_t file, const std::string& path) { check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush", path); }
// Every group keeps its links in its object header, checksummed, up to 1024 of them; by
// HDF5's default a group moves them to a fractal heap and B-tree from the 9th on, and on
// a damaged heap HDF5 1.10's link iteration freed a wild pointer (the fuzzer's signal 11
// once a run group grew a 9th link), where a damaged object header fails its checksum.
inline Handle create_group(hid_t parent, const std::string& path) {
  Handle properties(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, "property list", path);
  check(H5Pset_link_phase_change(properties, 1024, 1000), "set link storage of", path);
  return Handle(H5Gcreate2(parent, path.c_str(), H5P_DEFAULT, properties, H5P_DEFAULT), H5Gclose, "create group", path);
}
// True when `name` (a path relative to `parent`) names an object. H5Lexists fails on a path
// whose intermediate group is missing, so each prefix is looked up in turn (HDF5's advice).
inline bool has_link(hid_t parent, const std::string& name, const std::string& path) {
  for (size_t slash = name.find('/', name.rfind('/', 0) == 0 ? 1 : 0); ; slash = name.find('/', slash + 1)) {
    const std::string prefix = name.substr(0, slash);
    if (check(H5Lexists(parent, prefix.c_str(), H5P_DEFAULT), "look up " + prefix + " in", path) <= 0) return false;
    if (slash == std::string::npos) return true;
  }
}
// ---- attributes ------------------------------------------------------------------

inline Handle scalar_space() { return Handle(H5Screate(H5S_SCALAR), H5Sclose, "create dataspace", ""); }

inline bool has_attribute(hid_t object, const std::string& name, const std::string& path) {
  return check(H5Aexists(object, name.c_str()), "look up attribute " + name + " of", path) > 0;
}

inline void write_attribute(hid_t object, const std::string& name, const std::string& value,
                     const std::string& path) {
  Handle type = string_type(value.size());
  Handle attribute(H5Acreate2(object, name.c_str(), type, scalar_space(), H5P_DEFAULT, H5P_DEFAULT),
                   H5Aclose, "create attribute " + name + " of", path);
  check(H5Awrite(attribute, type, value.c_str()), "write attribute " + name + " of", path);
}
inline void write_attribute(hid_t object, const std::string& name, int64_t value, const std::string& path) {
  Handle attribute(H5Acreate2(object, name.c_str(), H5T_NATIVE_INT64, scalar_space(), H5P_DEFAULT, H5P_DEFAULT),
                   H5Aclose, "create attribute " + name + " of", path);
  check(H5Awrite(attribute, H5T_NATIVE_INT64, &value), "write attribute " + name + " of", path);
}
inline void write_attribute(hid_t object, const std::string& name, double value, const std::string& path) {
  Handle attribute(H5Acreate2(object, name.c_str(), H5T_NATIVE_DOUBLE, scalar_space(), H5P_DEFAULT, H5P_DEFAULT),
                   H5Aclose, "create attribute " + name + " of", path);
  check(H5Awrite(attribute, H5T_NATIVE_DOUBLE, &value), "write attribute " + name + " of", path);
}

inline std::string read_string_attribute(hid_t object, const std::string& name, const std::string& path) {
  Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, "open attribute " + name + " of", path);
  Handle file_type(H5Aget_type(attribute), H5Tclose, "type of attribute " + name + " of", path);
  Handle space(H5Aget_space(attribute), H5Sclose, "dataspace of attribute " + name + " of", path);
  if (H5Tget_class(file_type) != H5T_STRING || H5Tis_variable_str(file_type) != 0 ||
      H5Sget_simple_extent_npoints(space) != 1)
    throw StoreError("attribute " + name + " of '" + path + "' is not one fixed-length string");
  const size_t size = type_size(file_type, path + " attribute " + name);
  check_fits_in_file(attribute, 1, size, path + " attribute " + name);
  std::string value(size, '\0');
  Handle memory_type = string_type(size);
  check(H5Aread(attribute, memory_type, value.data()), "read attribute " + name + " of", path);
  value.resize(strnlen(value.data(), size));
  return value;
}
inline int64_t read_int_attribute(hid_t object, const std::string& name, const std::string& path) {
  Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, "open attribute " + name + " of", path);
  Handle file_type(H5Aget_type(attribute), H5Tclose, "type of attribute " + name + " of", path);
  Handle space(H5Aget_space(attribute), H5Sclose, "dataspace of attribute " + name + " of", path);
  if (H5Tget_class(file_type) != H5T_INTEGER || H5Sget_simple_extent_npoints(space) != 1)
    throw StoreError("attribute " + name + " of '" + path + "' is not one integer");
  int64_t value = 0;
  check(H5Aread(attribute, H5T_NATIVE_INT64, &value), "read attribute " + name + " of", path);
  return value;
}

// ---- datasets --------------------------------------------------------------------

// A 1-D or 2-D dataset whose space is allocated and filled at creation: nothing about
// it changes while runs write into it.
// No dims: a scalar dataset.
inline void create_dataset(hid_t parent, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                    const void* fill, const std::string& path) {
  Handle space = dims.empty() ? scalar_space()
                              : Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                                       H5Sclose, "create dataspace for", path + "/" + name);
  Handle create_properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "property list", path);
  check(H5Pset_fill_value(create_properties, type, fill), "set fill value of", path + "/" + name);
  check(H5Pset_fill_time(create_properties, H5D_FILL_TIME_ALLOC), "set fill time of", path + "/" + name);
  check(H5Pset_alloc_time(create_properties, H5D_ALLOC_TIME_EARLY), "set allocation time of", path + "/" + name);
  // The groups on the way, as create_group makes them (HDF5's own would be its default kind).
  for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
    if (!has_link(parent, name.substr(0, slash), path)) create_group(parent, name.substr(0, slash));
  Handle dataset(H5Dcreate2(parent, name.c_str(), type, space, H5P_DEFAULT, create_properties, H5P_DEFAULT),
                 H5Dclose, "create dataset", path + "/" + name);
}

// A 1-D dataset of `type` with no rows yet that grows by rows (chunks of `chunk`).
inline void create_growable_dataset(hid_t parent, const std::string& name, hid_t type, hsize_t chunk,
                                    const std::string& path) {
  const hsize_t dims[1] = {0}, max_dims[1] = {H5S_UNLIMITED}, chunks[1] = {chunk};
  Handle space(H5Screate_simple(1, dims, max_dims), H5Sclose, "create dataspace", path);
  Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "property list", path);
  check(H5Pset_chunk(properties, 1, chunks), "set chunks of", path);
  check(H5Pset_alloc_time(properties, H5D_ALLOC_TIME_EARLY), "set allocation time of", path);
  Handle dataset(H5Dcreate2(parent, name.c_str(), type, space, H5P_DEFAULT, properties, H5P_DEFAULT), H5Dclose,
                 "create dataset", path);
}
inline Handle open_dataset(hid_t parent, const std::string& name, const std::string& path) {
  return Handle(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset", path);
}
inline int64_t element_count(hid_t dataset, const std::string& path) {
  Handle space(H5Dget_space(dataset), H5Sclose, "dataspace of", path);
  return check(static_cast<int64_t>(H5Sget_simple_extent_npoints(space)), "size of", path);
}
// The number of values in `dataset`, checked to fit in its file before anything is allocated.
inline size_t readable_count(hid_t dataset, size_t value_bytes, const std::string& path) {
  const int64_t count = element_count(dataset, path);
  check_fits_in_file(dataset, count, value_bytes, path);
  return static_cast<size_t>(count);
}
inline void set_rows(hid_t dataset, hsize_t rows, const std::string& path) {
  const hsize_t count[1] = {rows};
  check(H5Dset_extent(dataset, count), "extend", path);
}
// Every element of `dataset` into memory of `type` (the dataset's size in elements). The
// dataset must hold exactly `type` (pebench's own records): HDF5 converts between compound
// types by member, and a damaged member description made that conversion write past the
// record (a fuzzer's segfault), so nothing is converted here.
inline void read_all(hid_t dataset, hid_t type, void* out, const std::string& path) {
  Handle file_type(H5Dget_type(dataset), H5Tclose, "type of", path);
  if (check(H5Tequal(file_type, type), "compare the type of", path) <= 0)
    throw StoreError("'" + path + "' does not hold pebench's record type");
  check(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), "read", path);
}
// Numbers only: an integer or floating-point type of 1 to 8 bytes (what the store writes).
inline void check_numeric(hid_t dataset, const std::string& path) {
  Handle file_type(H5Dget_type(dataset), H5Tclose, "type of", path);
  const H5T_class_t type_class = H5Tget_class(file_type);
  const size_t size = H5Tget_size(file_type);
  if ((type_class != H5T_INTEGER && type_class != H5T_FLOAT) || size < 1 || size > 8)
    throw StoreError("'" + path + "' does not hold numbers");
}
inline void write_all(hid_t dataset, hid_t type, const void* values, const std::string& path) {
  check(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), "write", path);
}
// One element (row) of a 1-D dataset, written independently (no other rank takes part).
inline void write_row(hid_t dataset, hid_t type, hsize_t row, const void* value, const std::string& path) {
  Handle file_space(H5Dget_space(dataset), H5Sclose, "dataspace of", path);
  const hsize_t start[1] = {row}, count[1] = {1};
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr), "select row of", path);
  Handle memory_space(H5Screate_simple(1, count, nullptr), H5Sclose, "create dataspace", path);
  check(H5Dwrite(dataset, type, memory_space, file_space, H5P_DEFAULT, value), "write row of", path);
}
// A dataset's bytes as stored, in its own type (NaN == NaN when their bits are equal).
inline std::vector<char> raw_bytes(hid_t parent, const std::string& name, const std::string& path) {
  Handle dataset = open_dataset(parent, name, path + "/" + name);
  Handle type(H5Dget_type(dataset), H5Tclose, "type of", path + "/" + name);
  const size_t size = type_size(type, path + "/" + name);
  std::vector<char> bytes(size * readable_count(dataset, size, path + "/" + name));
  if (!bytes.empty()) check(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), "read", path + "/" + name);
  return bytes;
}

template <typename T>
inline void write_vector(hid_t parent, const std::string& name, const std::vector<T>& values, const std::string& path) {
  Handle dataset = open_dataset(parent, name, path + "/" + name);
  const int64_t stored = element_count(dataset, path + "/" + name);
  if (stored != static_cast<int64_t>(values.size()))
    throw StoreError("dataset '" + path + "/" + name + "' holds " + std::to_string(stored) + " values, not " +
                     std::to_string(values.size()));
  check(H5Dwrite(dataset, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write dataset",
        path + "/" + name);
}

template <typename T>
std::vector<T> read_vector(hid_t parent, const std::string& name, const std::string& path) {
  if (!has_link(parent, name, path)) return {};
  Handle dataset = open_dataset(parent, name, path + "/" + name);
  check_numeric(dataset, path + "/" + name);
  std::vector<T> values(readable_count(dataset, sizeof(T), path + "/" + name));
  check(H5Dread(dataset, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read dataset",
        path + "/" + name);
  return values;
}

// The extent of a dataset, empty when it does not exist.
inline std::vector<int64_t> read_dims(hid_t parent, const std::string& name, const std::string& path) {
  if (!has_link(parent, name, path)) return {};
  Handle dataset = open_dataset(parent, name, path + "/" + name);
  Handle space(H5Dget_space(dataset), H5Sclose, "dataspace of", path + "/" + name);
  std::vector<hsize_t> dims(static_cast<size_t>(check(H5Sget_simple_extent_ndims(space), "rank of", path + "/" + name)));
  check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "extent of", path + "/" + name);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

// Names of the links directly in `group`.
inline std::vector<std::string> child_names(hid_t group, const std::string& path) {
  std::vector<std::string> names;
  check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
                   [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
                     static_cast<std::vector<std::string>*>(out)->push_back(name);
                     return 0;
                   },
                   &names), "list", path);
  return names;
}

// Paths (relative to `group`) of every dataset below it, in name order, depth first.
// Walked link by link rather than with H5Ovisit: on a damaged dense link table (a group
// of many links, as weights/ is) H5Ovisit freed a wild pointer inside HDF5 1.10 (the
// fuzzer's signal 11), where listing the links refuses it with a checksum error. Groups
// nest at most `depth` deep: a crafted hard link to an ancestor would recurse forever.
inline std::vector<std::string> dataset_paths(hid_t group, const std::string& path, int depth = 16) {
  if (depth == 0) throw StoreError("'" + path + "' nests groups deeper than pebench writes them");
  std::vector<std::string> paths;
  for (const auto& child : child_names(group, path)) {
    const std::string where = path + "/" + child;
    Handle object(H5Oopen(group, child.c_str(), H5P_DEFAULT), H5Oclose, "open", where);
    const H5I_type_t kind = H5Iget_type(object);
    if (kind == H5I_DATASET) paths.push_back(child);
    else if (kind == H5I_GROUP)
      for (const auto& below : dataset_paths(object, where, depth - 1)) paths.push_back(child + "/" + below);
  }
  return paths;
}

inline Handle open_group(hid_t parent, const std::string& path) {
  return Handle(H5Gopen2(parent, path.c_str(), H5P_DEFAULT), H5Gclose, "open group", path);
}

// ---- copying a run between stores -------------------------------------------------

// Refuses variable-length data (pebench never writes it): copied as raw bytes, it would be pointers.
inline void check_fixed_size(hid_t type, const std::string& where) {
  if (H5Tdetect_class(type, H5T_VLEN) != 0 || H5Tis_variable_str(type) != 0)
    throw StoreError("'" + where + "' holds variable-length data, which pebench never writes");
}

// Copies every attribute of `source` onto `target`: type, dataspace and bytes as stored.
inline void copy_attributes(hid_t source, hid_t target, const std::string& path) {
  std::vector<std::string> names;
  check(H5Aiterate2(source, H5_INDEX_NAME, H5_ITER_INC, nullptr,
                    [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
                      static_cast<std::vector<std::string>*>(out)->push_back(name);
                      return 0;
                    },
                    &names), "list attributes of", path);
  for (const auto& name : names) {
    const std::string where = path + " attribute " + name;
    Handle attribute(H5Aopen(source, name.c_str(), H5P_DEFAULT), H5Aclose, "open", where);
    Handle type(H5Aget_type(attribute), H5Tclose, "type of", where);
    Handle space(H5Aget_space(attribute), H5Sclose, "dataspace of", where);
    check_fixed_size(type, where);
    const int64_t count = check(static_cast<int64_t>(H5Sget_simple_extent_npoints(space)), "size of", where);
    const size_t size = type_size(type, where);
    check_fits_in_file(attribute, count, size, where);
    std::vector<char> bytes(static_cast<size_t>(count) * size);
    check(H5Aread(attribute, type, bytes.data()), "read", where);
    Handle copy(H5Acreate2(target, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, "create", where);
    check(H5Awrite(copy, type, bytes.data()), "write", where);
  }
}

// Copies the dataset `name` of `source` to `target`: type, shape and every value, read
// through the checks above and allocated in full, as the store creates its datasets.
inline void copy_dataset(hid_t source, hid_t target, const std::string& name, const std::string& path) {
  const std::string where = path + "/" + name;
  Handle dataset = open_dataset(source, name, where);
  Handle type(H5Dget_type(dataset), H5Tclose, "type of", where);
  check_fixed_size(type, where);
  Handle space(H5Dget_space(dataset), H5Sclose, "dataspace of", where);
  const std::vector<char> bytes = raw_bytes(source, name, path);
  Handle create_properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "property list", where);
  check(H5Pset_alloc_time(create_properties, H5D_ALLOC_TIME_EARLY), "set allocation time of", where);
  Handle copy(H5Dcreate2(target, name.c_str(), type, space, H5P_DEFAULT, create_properties, H5P_DEFAULT), H5Dclose,
              "create dataset", where);
  if (!bytes.empty()) check(H5Dwrite(copy, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), "write", where);
  copy_attributes(dataset, copy, where);
}

// Copies the group `name` of `source`, with everything below it, to the same name in
// `target`, object by object through checked reads. (H5Ocopy did this in one call, but it
// trusts object headers that a read refuses: a fuzzed store crashed it inside HDF5.)
inline void copy_group(hid_t source, hid_t target, const std::string& name, const std::string& path) {
  const std::string where = path + name;
  Handle from = open_group(source, name);
  Handle to = create_group(target, name);
  copy_attributes(from, to, where);
  for (const auto& child : child_names(from, where)) {
    Handle object(H5Oopen(from, child.c_str(), H5P_DEFAULT), H5Oclose, "open", where + "/" + child);
    const H5I_type_t kind = H5Iget_type(object);
    if (kind == H5I_GROUP) copy_group(from, to, child, where + "/");
    else if (kind == H5I_DATASET) copy_dataset(from, to, child, where);
    else throw StoreError("'" + where + "/" + child + "' is neither a group nor a dataset");
  }
}

}  // namespace pebench
