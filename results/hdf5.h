// Thin RAII wrappers over the HDF5 C API (in the spirit of HighFive): identifiers that
// close themselves, errors thrown as StoreError with the object's path, and the few
// attribute and dataset helpers the store needs. Only results/ includes this.
#pragma once
#include <hdf5.h>

#include <algorithm>
#include <cstdint>
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
  return message.empty() ? "HDF5 error" : message;
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
  H5Tset_size(type, std::max<size_t>(1, length));
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  return type;
}

// ---- attributes ------------------------------------------------------------------

inline Handle scalar_space() { return Handle(H5Screate(H5S_SCALAR), H5Sclose, "create dataspace", ""); }

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
  if (H5Tget_class(file_type) != H5T_STRING || H5Tis_variable_str(file_type) > 0)
    throw StoreError("attribute " + name + " of '" + path + "' is not a fixed-length string");
  const size_t size = H5Tget_size(file_type);
  std::string value(size, '\0');
  Handle memory_type = string_type(size);
  check(H5Aread(attribute, memory_type, value.data()), "read attribute " + name + " of", path);
  value.resize(strnlen(value.data(), size));
  return value;
}
inline int64_t read_int_attribute(hid_t object, const std::string& name, const std::string& path) {
  Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, "open attribute " + name + " of", path);
  int64_t value = 0;
  check(H5Aread(attribute, H5T_NATIVE_INT64, &value), "read attribute " + name + " of", path);
  return value;
}

// ---- datasets --------------------------------------------------------------------

// A 1-D or 2-D dataset whose space is allocated and filled at creation: nothing about
// it changes while runs write into it.
inline void create_dataset(hid_t parent, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                    const void* fill, const std::string& path) {
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
               "create dataspace for", path + "/" + name);
  Handle create_properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "property list", path);
  H5Pset_fill_value(create_properties, type, fill);
  H5Pset_fill_time(create_properties, H5D_FILL_TIME_ALLOC);
  H5Pset_alloc_time(create_properties, H5D_ALLOC_TIME_EARLY);
  Handle link_properties(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "property list", path);
  H5Pset_create_intermediate_group(link_properties, 1);
  Handle dataset(H5Dcreate2(parent, name.c_str(), type, space, link_properties, create_properties, H5P_DEFAULT),
                 H5Dclose, "create dataset", path + "/" + name);
}

template <typename T>
hid_t native_type();
template <>
inline hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
inline hid_t native_type<int64_t>() { return H5T_NATIVE_INT64; }

template <typename T>
inline void write_vector(hid_t parent, const std::string& name, const std::vector<T>& values, const std::string& path) {
  Handle dataset(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset", path + "/" + name);
  Handle space(H5Dget_space(dataset), H5Sclose, "dataspace of", path + "/" + name);
  const auto stored = H5Sget_simple_extent_npoints(space);
  if (stored != static_cast<hssize_t>(values.size()))
    throw StoreError("dataset '" + path + "/" + name + "' holds " + std::to_string(stored) + " values, not " +
                     std::to_string(values.size()));
  check(H5Dwrite(dataset, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write dataset",
        path + "/" + name);
}

template <typename T>
std::vector<T> read_vector(hid_t parent, const std::string& name, const std::string& path) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) <= 0) return {};
  Handle dataset(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset", path + "/" + name);
  Handle space(H5Dget_space(dataset), H5Sclose, "dataspace of", path + "/" + name);
  std::vector<T> values(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  check(H5Dread(dataset, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read dataset",
        path + "/" + name);
  return values;
}

// The extent of a dataset, empty when it does not exist.
inline std::vector<int64_t> read_dims(hid_t parent, const std::string& name, const std::string& path) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) <= 0) return {};
  Handle dataset(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose, "open dataset", path + "/" + name);
  Handle space(H5Dget_space(dataset), H5Sclose, "dataspace of", path + "/" + name);
  std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

// Paths (relative to `group`) of every dataset below it.
inline std::vector<std::string> dataset_paths(hid_t group) {
  std::vector<std::string> paths;
  H5Ovisit(group, H5_INDEX_NAME, H5_ITER_INC,
           [](hid_t, const char* name, const H5O_info_t* info, void* out) -> herr_t {
             if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(out)->push_back(name);
             return 0;
           },
           &paths);
  return paths;
}

inline Handle open_group(hid_t parent, const std::string& path) {
  return Handle(H5Gopen2(parent, path.c_str(), H5P_DEFAULT), H5Gclose, "open group", path);
}

}  // namespace pebench
