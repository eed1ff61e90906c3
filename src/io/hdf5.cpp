#include "joule/io/hdf5.h"

#include <c10/util/Exception.h>
#include <hdf5.h>

#include <filesystem>
#include <sstream>

namespace joule::io {
namespace {

// HDF5 handles close themselves on every path out, errors included.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~Handle() {
    if (id >= 0) close(id);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

// The library prints its error stack to stderr by default; Joule reports errors itself.
void quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string join(const std::vector<std::string>& names) {
  std::ostringstream s;
  for (size_t i = 0; i < names.size(); ++i) s << (i ? ", " : "") << names[i];
  return names.empty() ? "none" : s.str();
}

hid_t open_file(const std::string& path) {
  quiet();
  TORCH_CHECK(std::filesystem::is_regular_file(path), path, ": no such HDF5 file");
  TORCH_CHECK(H5Fis_hdf5(path.c_str()) > 0, path, ": not an HDF5 file");
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  TORCH_CHECK(file >= 0, path, ": the HDF5 library cannot open it (corrupt or unreadable)");
  return file;
}

}  // namespace

std::vector<std::string> hdf5_datasets(const std::string& path) {
  Handle file(open_file(path), H5Fclose);
  H5G_info_t info;
  TORCH_CHECK(H5Gget_info(file.id, &info) >= 0, path, ": cannot list the HDF5 root group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(file.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) continue;
    std::string name(static_cast<size_t>(len), '\0');
    H5Lget_name_by_idx(file.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), len + 1, H5P_DEFAULT);
    Handle object(H5Oopen(file.id, name.c_str(), H5P_DEFAULT), H5Oclose);
    if (object.id >= 0 && H5Iget_type(object.id) == H5I_DATASET) names.push_back(name);
  }
  return names;
}

at::Tensor read_hdf5(const std::string& path, const std::string& name) {
  Handle file(open_file(path), H5Fclose);
  TORCH_CHECK(H5Lexists(file.id, name.c_str(), H5P_DEFAULT) > 0, path, ": no dataset '", name,
              "' (the file has: ", join(hdf5_datasets(path)), ")");
  Handle dataset(H5Dopen2(file.id, name.c_str(), H5P_DEFAULT), H5Dclose);
  TORCH_CHECK(dataset.id >= 0, path, ": '", name, "' is not a dataset");
  Handle space(H5Dget_space(dataset.id), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.id);
  TORCH_CHECK(rank >= 0 && rank <= 8, path, ": dataset '", name, "' has an unsupported rank ", rank);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  std::vector<int64_t> shape(dims.begin(), dims.end());

  Handle type(H5Dget_type(dataset.id), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.id);
  at::ScalarType out_type;
  hid_t memory_type;
  if (cls == H5T_FLOAT) {
    const bool wide = H5Tget_size(type.id) > 4;
    out_type = wide ? at::kDouble : at::kFloat;
    memory_type = wide ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
  } else if (cls == H5T_INTEGER) {
    out_type = at::kLong;
    memory_type = H5T_NATIVE_INT64;
  } else {
    TORCH_CHECK(false, path, ": dataset '", name, "' is not numeric (HDF5 type class ", int(cls), ")");
  }
  auto out = at::empty(shape, at::TensorOptions().dtype(out_type));
  if (out.numel() > 0)
    TORCH_CHECK(H5Dread(dataset.id, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()) >= 0, path,
                ": cannot read dataset '", name, "' (corrupt file?)");
  return out;
}

void write_hdf5(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& datasets) {
  quiet();
  Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  TORCH_CHECK(file.id >= 0, "write_hdf5: cannot create ", path);
  for (const auto& [name, tensor] : datasets) {
    TORCH_CHECK(tensor.device().is_cpu(), "write_hdf5: '", name, "' must be on the CPU");
    auto x = tensor.contiguous();
    hid_t memory_type;
    switch (x.scalar_type()) {
      case at::kFloat: memory_type = H5T_NATIVE_FLOAT; break;
      case at::kDouble: memory_type = H5T_NATIVE_DOUBLE; break;
      case at::kLong: memory_type = H5T_NATIVE_INT64; break;
      default: TORCH_CHECK(false, "write_hdf5: '", name, "' has type ", x.scalar_type(), " (float32, float64 or int64)");
    }
    std::vector<hsize_t> dims(x.sizes().begin(), x.sizes().end());
    Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    Handle dataset(H5Dcreate2(file.id, name.c_str(), memory_type, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   H5Dclose);
    TORCH_CHECK(dataset.id >= 0, "write_hdf5: cannot create dataset '", name, "' in ", path);
    TORCH_CHECK(H5Dwrite(dataset.id, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data_ptr()) >= 0,
                "write_hdf5: write error on '", name, "' in ", path);
  }
}

}  // namespace joule::io
