#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <utility>

#include "array_cache.hpp"
#include "arrays.hpp"
#include "pyfrozen/gemm.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

constexpr const char* kOp = "gemm";

std::string dims(std::int64_t r, std::int64_t c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

template <typename T>
py::array run(const py::array& a, const py::array& b, py::object out_obj, bool trans_a,
              bool trans_b, double alpha, double beta) {
  const MatrixArg ma = as_matrix(kOp, "a", a), mb = as_matrix(kOp, "b", b);
  const std::int64_t m = trans_a ? ma.cols : ma.rows, k = trans_a ? ma.rows : ma.cols;
  const std::int64_t kb = trans_b ? mb.cols : mb.rows, n = trans_b ? mb.rows : mb.cols;
  if (k != kb)
    throw py::value_error("gemm: inner dimensions differ: op(a) is " + dims(m, k) +
                          " but op(b) is " + dims(kb, n) + " (a " + shape_str(a) + ", b " +
                          shape_str(b) + ", trans_a=" + (trans_a ? "True" : "False") +
                          ", trans_b=" + (trans_b ? "True" : "False") + ")");
  py::array out;
  if (out_obj.is_none()) {
    if (beta != 0.0)
      throw py::value_error("gemm: beta=" + std::to_string(beta) +
                            " scales an existing C, so out= must be given");
    out = new_array(py::dtype::of<T>(), {m, n});
  } else {
    out = require_array(kOp, "out", out_obj);
    if (!out.dtype().equal(a.dtype()))
      throw py::type_error("gemm: out must have the dtype of a and b (" + dtype_str(a) +
                           "), got " + dtype_str(out));
    if (out.ndim() != 2 || out.shape(0) != m || out.shape(1) != n)
      throw py::value_error("gemm: out must have shape " + dims(m, n) + ", got " +
                            shape_str(out) + " (a " + shape_str(a) + ", b " + shape_str(b) + ")");
    require_writeable(kOp, "out", out);
    require_no_overlap(kOp, "out", out, "a", a);
    require_no_overlap(kOp, "out", out, "b", b);
  }
  const MatrixArg mc = as_matrix(kOp, "out", out);
  // A transposed view is the transpose of a row-major matrix: flip op() instead of copying.
  bool ta = trans_a != ma.transposed, tb = trans_b != mb.transposed;
  const T* pa = static_cast<const T*>(ma.data);
  const T* pb = static_cast<const T*>(mb.data);
  std::int64_t lda = ma.ld, ldb = mb.ld, mm = m, nn = n;
  if (mc.transposed) {  // C^T = op(B)^T op(A)^T, written row-major into C's storage
    std::swap(pa, pb);
    std::swap(lda, ldb);
    std::swap(mm, nn);
    const bool ta_t = !tb, tb_t = !ta;
    ta = ta_t;
    tb = tb_t;
  }
  T* pc = static_cast<T*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    gemm<T>(ta, tb, mm, nn, k, static_cast<T>(alpha), pa, lda, pb, ldb, static_cast<T>(beta), pc,
            mc.ld);
  }
  return out;
}

py::array gemm_py(const py::handle& a_obj, const py::handle& b_obj, py::object out,
                  bool trans_a, bool trans_b, double alpha, double beta) {
  const py::array a = require_array(kOp, "a", a_obj), b = require_array(kOp, "b", b_obj);
  const Dtype da = float_dtype(kOp, "a", a), db = float_dtype(kOp, "b", b);
  if (da != db)
    throw py::type_error("gemm: a and b must have the same dtype, got " + dtype_str(a) + " " +
                         shape_str(a) + " and " + dtype_str(b) + " " + shape_str(b));
  return da == Dtype::f32 ? run<float>(a, b, std::move(out), trans_a, trans_b, alpha, beta)
                          : run<double>(a, b, std::move(out), trans_a, trans_b, alpha, beta);
}

}  // namespace

void init_gemm(py::module_& m) {
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::kw_only(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0,
        R"doc(out = alpha * op(a) @ op(b) + beta * out, float32 or float64.

op(x) is x, or x.T when trans_x is set. Transposed views (x.T of a C-contiguous
array) are used in place, never copied. With beta == 0 `out` is only written; a
nonzero beta needs `out`. `out` must not overlap `a` or `b`. The GIL is released.

Example:

>>> import numpy as np
>>> from pyfrozen import gemm
>>> x = np.arange(6, dtype=np.float32).reshape(2, 3)
>>> gemm(x, x, trans_b=True)
array([[ 5., 14.],
       [14., 50.]], dtype=float32)
)doc");
}

}  // namespace pyfrozen::python
