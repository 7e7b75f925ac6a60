#include "arrays.hpp"

#include "array_cache.hpp"

#include <algorithm>
#include <utility>

namespace pyfrozen::python {

std::string repr_of(const py::handle& obj) { return py::repr(obj).cast<std::string>(); }

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::vector<std::int64_t> shape_of(const py::array& a) {
  std::vector<std::int64_t> shape(static_cast<size_t>(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) shape[static_cast<size_t>(i)] = a.shape(i);
  return shape;
}

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

py::array require_array(const char* op, const char* arg, const py::handle& obj) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(op) + ": " + arg + " must be a numpy.ndarray, got " +
                         py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  return py::reinterpret_borrow<py::array>(obj);
}

Dtype float_dtype(const char* op, const char* arg, const py::array& a) {
  // equal() also compares byte order, so '>f4' is refused rather than misread.
  if (a.dtype().equal(py::dtype::of<float>())) return Dtype::f32;
  if (a.dtype().equal(py::dtype::of<double>())) return Dtype::f64;
  throw py::type_error(std::string(op) + ": " + arg +
                       " must be float32 or float64 (native byte order), got " + dtype_str(a) +
                       " with shape " + shape_str(a));
}

namespace {

[[noreturn]] void bad_layout(const char* op, const char* arg, const py::array& a,
                             const std::string& why) {
  throw py::value_error(std::string(op) + ": " + arg + " " + why + " (shape " + shape_str(a) +
                        ", strides " + std::to_string(a.strides(0)) + ", " +
                        std::to_string(a.strides(1)) +
                        " bytes); pass np.ascontiguousarray(" + arg + ")");
}

// Unit stride along `inner` with the `outer` stride at least one full inner run.
bool fits(std::int64_t n_outer, std::int64_t n_inner, std::int64_t s_outer, std::int64_t s_inner) {
  return (n_inner <= 1 || s_inner == 1) &&
         (n_outer <= 1 || s_outer >= std::max<std::int64_t>(1, n_inner));
}

}  // namespace

MatrixArg as_matrix(const char* op, const char* arg, const py::array& a) {
  if (a.ndim() != 2)
    throw py::value_error(std::string(op) + ": " + arg + " must be 2-D, got shape " +
                          shape_str(a));
  const auto item = static_cast<std::int64_t>(a.itemsize());
  const std::int64_t rows = a.shape(0), cols = a.shape(1);
  if (rows == 0 || cols == 0)  // nothing is read or written; numpy's strides are arbitrary
    return {a.data(), rows, cols, std::max<std::int64_t>(1, cols), false};
  if (reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(item) != 0 ||
      a.strides(0) % item != 0 || a.strides(1) % item != 0)
    bad_layout(op, arg, a, "is not aligned to its element size");
  const std::int64_t s0 = a.strides(0) / item, s1 = a.strides(1) / item;
  if (fits(rows, cols, s0, s1))
    return {a.data(), rows, cols, rows <= 1 ? std::max<std::int64_t>(1, cols) : s0, false};
  if (fits(cols, rows, s1, s0))
    return {a.data(), rows, cols, cols <= 1 ? std::max<std::int64_t>(1, rows) : s1, true};
  bad_layout(op, arg, a, "needs unit stride along one axis and non-overlapping rows");
}

py::array require_tensor(const char* op, const char* arg, const py::handle& obj, Dtype dtype,
                         int ndim) {
  py::array a = require_array(op, arg, obj);
  if (float_dtype(op, arg, a) != dtype)
    throw py::type_error(std::string(op) + ": " + arg + " must be " +
                         (dtype == Dtype::f32 ? "float32" : "float64") +
                         " like the other arguments, got " + dtype_str(a) + " " + shape_str(a));
  if (ndim >= 0 && a.ndim() != ndim)
    throw py::value_error(std::string(op) + ": " + arg + " must have " + std::to_string(ndim) +
                          " dimensions, got shape " + shape_str(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(op) + ": " + arg + " " + shape_str(a) +
                          " must be C-contiguous; pass np.ascontiguousarray(" + arg + ")");
  return a;
}

py::array require_output(const char* op, const char* arg, const py::handle& obj, Dtype dtype,
                         int ndim) {
  py::array a = require_tensor(op, arg, obj, dtype, ndim);
  require_writeable(op, arg, a);
  return a;
}

void require_shape(const char* op, const char* arg, const py::array& a,
                   const std::vector<std::int64_t>& shape, const std::string& context) {
  if (shape_of(a) != shape)
    throw py::value_error(std::string(op) + ": " + arg + " must have shape " + shape_str(shape) +
                          " " + context + ", got " + shape_str(a));
}

void require_aligned(const char* op, const char* arg, const py::array& a) {
  if (reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(a.itemsize()))
    throw py::value_error(std::string(op) + ": " + arg + " " + shape_str(a) +
                          " is not aligned to its element size; pass a copy");
}

py::array output_arg(const char* op, const py::handle& out_obj, Dtype dtype,
                     const std::vector<std::int64_t>& shape, const std::string& context,
                     const std::vector<std::pair<const char*, py::array>>& inputs,
                     bool in_place_ok) {
  if (out_obj.is_none())
    return new_array(dtype == Dtype::f32 ? py::dtype::of<float>() : py::dtype::of<double>(),
                     shape);
  py::array out = require_output(op, "out", out_obj, dtype, -1);
  require_aligned(op, "out", out);
  require_shape(op, "out", out, shape, context);
  for (const auto& [name, in] : inputs)
    if (!(in_place_ok && out.data() == in.data())) require_no_overlap(op, "out", out, name, in);
  return out;
}

void require_writeable(const char* op, const char* arg, const py::array& out) {
  if (!out.writeable())
    throw py::value_error(std::string(op) + ": " + arg + " is read-only (shape " +
                          shape_str(out) + ")");
}

namespace {

// [lo, hi) byte range an array's elements occupy; empty arrays occupy nothing.
std::pair<std::uintptr_t, std::uintptr_t> extent(const py::array& a) {
  auto lo = reinterpret_cast<std::uintptr_t>(a.data()), hi = lo;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (a.shape(i) == 0) return {0, 0};
    const auto span = static_cast<std::intptr_t>((a.shape(i) - 1) * a.strides(i));
    if (span < 0) lo += span; else hi += span;
  }
  return {lo, hi + static_cast<std::uintptr_t>(a.itemsize())};
}

}  // namespace

void require_no_overlap(const char* op, const char* out_name, const py::array& out,
                        const char* in_name, const py::array& in) {
  const auto [olo, ohi] = extent(out);
  const auto [ilo, ihi] = extent(in);
  if (olo < ohi && ilo < ihi && olo < ihi && ilo < ohi)
    throw py::value_error(std::string(op) + ": " + out_name + " " + shape_str(out) +
                          " overlaps " + in_name + " " + shape_str(in) +
                          " in memory; pass a separate output array");
}

Activation parse_activation(const char* op, const std::string& name) {
  for (Activation a : {Activation::none, Activation::relu, Activation::relu6,
                       Activation::sigmoid, Activation::tanh})
    if (name == activation_name(a)) return a;
  throw py::value_error(std::string(op) + ": unknown activation '" + name +
                        "'; expected 'none', 'relu', 'relu6', 'sigmoid' or 'tanh'");
}

}  // namespace pyfrozen::python
