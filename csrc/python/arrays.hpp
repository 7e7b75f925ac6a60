#pragma once
// numpy -> kernel arguments: every check the C++ core cannot make (dtype, strides,
// writeability, aliasing) happens here, before the GIL is released. Never forcecast:
// a silent cast would copy, and an `out=` written to a copy is a lost result.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pyfrozen/activation.hpp"

namespace pyfrozen::python {

namespace py = pybind11;

/// "(3, 4)" for error messages.
std::string shape_str(const py::array& a);
/// repr(obj), for error messages that show what the caller passed.
std::string repr_of(const py::handle& obj);
/// "float32", "int64", ...
std::string dtype_str(const py::array& a);

/// Raises TypeError unless obj is a numpy.ndarray.
py::array require_array(const char* op, const char* arg, const py::handle& obj);

/// Floating dtype shared by a kernel's arrays.
enum class Dtype { f32, f64 };
/// Raises TypeError unless `a` is native-endian float32 or float64.
Dtype float_dtype(const char* op, const char* arg, const py::array& a);

/// A 2-D array seen as a row-major matrix with a leading dimension: either its own
/// layout (unit stride along axis 1) or, for a transposed view, the transpose of one.
struct MatrixArg {
  const void* data;
  std::int64_t rows, cols;  // of the array as the user sees it
  std::int64_t ld;          // of the stored row-major matrix
  bool transposed;          // stored matrix is the array's transpose (unit stride on axis 0)
};
/// Raises ValueError if `a` is not 2-D, misaligned, or has no unit stride along an
/// axis with the other stride covering that axis (overlapping rows are refused).
MatrixArg as_matrix(const char* op, const char* arg, const py::array& a);

/// Sizes of every axis.
std::vector<std::int64_t> shape_of(const py::array& a);

/// A numpy array of float `dtype`, C-contiguous, with `ndim` axes (ndim < 0: any).
/// Raises TypeError for a non-array or another dtype (naming both), ValueError for
/// another rank or a non-contiguous layout (arrays are never silently copied).
py::array require_tensor(const char* op, const char* arg, const py::handle& obj, Dtype dtype,
                         int ndim);

/// require_tensor for an output: also writeable.
py::array require_output(const char* op, const char* arg, const py::handle& obj, Dtype dtype,
                         int ndim);

/// Raises ValueError unless `a` has exactly `shape`; `context` names what it must
/// match, e.g. "(input (8, 32, 32, 3))".
void require_shape(const char* op, const char* arg, const py::array& a,
                   const std::vector<std::int64_t>& shape, const std::string& context);

/// "(3, 4)" for a shape vector.
std::string shape_str(const std::vector<std::int64_t>& shape);

/// Calls f(float{}) or f(double{}) for the dtype: one binding body for both types.
template <typename F>
decltype(auto) with_dtype(Dtype dtype, F&& f) {
  if (dtype == Dtype::f32) return f(float{});
  return f(double{});
}

/// Raises ValueError unless `a`'s data is aligned to its element size (a view into a byte
/// buffer can be misaligned; the kernels assume natural alignment).
void require_aligned(const char* op, const char* arg, const py::array& a);

/// An `out=` argument: None -> a new, uninitialised array of `shape` (new_array: freed
/// output blocks reused); else the caller's array, checked: float `dtype`, C-contiguous,
/// writeable, aligned, of `shape` (`context` says what it must match) and overlapping
/// none of `inputs` (with `in_place_ok` it may be exactly one of them: same first element).
py::array output_arg(const char* op, const py::handle& out_obj, Dtype dtype,
                     const std::vector<std::int64_t>& shape, const std::string& context,
                     const std::vector<std::pair<const char*, py::array>>& inputs,
                     bool in_place_ok = false);

/// Raises ValueError unless `out` is writeable.
void require_writeable(const char* op, const char* arg, const py::array& out);
/// Raises ValueError if the memory `out` spans overlaps that of `in`.
void require_no_overlap(const char* op, const char* out_name, const py::array& out,
                        const char* in_name, const py::array& in);

/// The kernels' activation named `name` ("none", "relu", "relu6", "sigmoid", "tanh");
/// ValueError naming `op` and the choices otherwise.
Activation parse_activation(const char* op, const std::string& name);

}  // namespace pyfrozen::python
