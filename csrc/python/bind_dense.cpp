// Dense helpers: weight gradients limited to listed columns / rows, and embedding
// gather / scatter-add. Index arrays are int64 (never cast: a cast would copy).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "array_cache.hpp"
#include "arrays.hpp"
#include "pyfrozen/dense.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

/// A native int64, C-contiguous array with `ndim` axes (any rank when ndim < 0).
py::array require_indices(const char* op, const char* arg, const py::handle& obj, int ndim) {
  py::array a = require_array(op, arg, obj);
  if (!a.dtype().equal(py::dtype::of<std::int64_t>()))
    throw py::type_error(std::string(op) + ": " + arg + " must be int64, got " + dtype_str(a) +
                         " " + shape_str(a) + "; pass " + arg + ".astype(np.int64)");
  if (ndim >= 0 && a.ndim() != ndim)
    throw py::value_error(std::string(op) + ": " + arg + " must have " + std::to_string(ndim) +
                          " dimension(s), got shape " + shape_str(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(op) + ": " + arg + " " + shape_str(a) +
                          " must be C-contiguous; pass np.ascontiguousarray(" + arg + ")");
  return a;
}

const std::int64_t* index_ptr(const py::array& a) {
  return static_cast<const std::int64_t*>(a.data());
}

py::array dense_bw_py(const py::handle& x_obj, const py::handle& dy_obj, const py::handle& dw_obj,
                      const py::handle& columns, const py::handle& rows, bool accumulate) {
  const char* op = "dense_backward_weight";
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const py::array x = require_tensor(op, "x", x_obj, dt, 2);
  const py::array dy = require_tensor(op, "dy", dy_obj, dt, 2);
  if (x.shape(0) != dy.shape(0))
    throw py::value_error(std::string(op) + ": x has " + std::to_string(x.shape(0)) +
                          " rows but dy has " + std::to_string(dy.shape(0)) + " (x " +
                          shape_str(x) + ", dy " + shape_str(dy) + ")");
  py::array dw = require_output(op, "dw", dw_obj, dt, 2);
  const std::int64_t n = x.shape(0), in = x.shape(1), out = dy.shape(1);
  require_shape(op, "dw", dw, {in, out}, "(x " + shape_str(x) + ", dy " + shape_str(dy) + ")");
  require_no_overlap(op, "dw", dw, "x", x);
  require_no_overlap(op, "dw", dw, "dy", dy);
  if (!columns.is_none() && !rows.is_none())
    throw py::value_error(std::string(op) + ": pass columns or rows, not both");
  const bool by_rows = !rows.is_none();
  py::array idx;
  std::vector<std::int64_t> all;
  const std::int64_t* ip = nullptr;
  std::int64_t count = 0;
  if (by_rows || !columns.is_none()) {
    idx = require_indices(op, by_rows ? "rows" : "columns", by_rows ? rows : columns, 1);
    ip = index_ptr(idx);
    count = idx.shape(0);
  } else {  // neither: every column, the full product
    all.resize(static_cast<size_t>(out));
    std::iota(all.begin(), all.end(), std::int64_t{0});
    ip = all.data();
    count = out;
  }
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* xp = static_cast<const T*>(x.data());
    const T* dyp = static_cast<const T*>(dy.data());
    T* dwp = static_cast<T*>(dw.mutable_data());
    py::gil_scoped_release release;
    if (by_rows)
      dense_backward_weight_rows<T>(n, in, out, xp, dyp, dwp, ip, count, accumulate);
    else
      dense_backward_weight_columns<T>(n, in, out, xp, dyp, dwp, ip, count, accumulate);
  });
  return dw;
}

std::vector<std::int64_t> row_shape(const py::array& indices, std::int64_t d) {
  std::vector<std::int64_t> shape = shape_of(indices);
  shape.push_back(d);
  return shape;
}

py::array gather_py(const py::handle& table_obj, const py::handle& idx_obj, py::object out_obj) {
  const char* op = "gather_rows";
  const Dtype dt = float_dtype(op, "table", require_array(op, "table", table_obj));
  const py::array table = require_tensor(op, "table", table_obj, dt, 2);
  const py::array idx = require_indices(op, "indices", idx_obj, -1);
  const std::int64_t v = table.shape(0), d = table.shape(1), n = idx.size();
  const auto shape = row_shape(idx, d);
  py::array out =
      output_arg(op, out_obj, dt, row_shape(idx, d),
                 "(indices " + shape_str(idx) + " + (" + std::to_string(d) + ",))",
                 {{"table", table}, {"indices", idx}});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* tp = static_cast<const T*>(table.data());
    T* outp = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    gather_rows<T>(v, d, tp, index_ptr(idx), n, outp);
  });
  return out;
}

py::array scatter_add_py(const py::handle& grad_obj, const py::handle& idx_obj,
                         const py::handle& dtable_obj, const py::handle& frozen_obj) {
  const char* op = "scatter_add_rows";
  const Dtype dt = float_dtype(op, "grad", require_array(op, "grad", grad_obj));
  const py::array grad = require_tensor(op, "grad", grad_obj, dt, -1);
  const py::array idx = require_indices(op, "indices", idx_obj, -1);
  py::array dtable = require_output(op, "dtable", dtable_obj, dt, 2);
  const std::int64_t v = dtable.shape(0), d = dtable.shape(1), n = idx.size();
  require_shape(op, "grad", grad, row_shape(idx, d),
                "(indices " + shape_str(idx) + " + (" + std::to_string(d) + ",) of dtable " +
                    shape_str(dtable) + ")");
  require_no_overlap(op, "dtable", dtable, "grad", grad);
  require_no_overlap(op, "dtable", dtable, "indices", idx);
  const std::uint8_t* frozen = nullptr;
  py::array fr;
  if (!frozen_obj.is_none()) {
    fr = require_array(op, "frozen_rows", frozen_obj);
    if (!fr.dtype().equal(py::dtype::of<bool>()) &&
        !fr.dtype().equal(py::dtype::of<std::uint8_t>()))
      throw py::type_error(std::string(op) + ": frozen_rows must be bool or uint8 (nonzero = " +
                           "frozen), got " + dtype_str(fr) + " " + shape_str(fr));
    require_shape(op, "frozen_rows", fr, {v}, "(one flag per row of dtable " +
                  shape_str(dtable) + ")");
    if (!(fr.flags() & py::array::c_style))
      throw py::value_error(std::string(op) + ": frozen_rows must be C-contiguous");
    require_no_overlap(op, "dtable", dtable, "frozen_rows", fr);
    frozen = static_cast<const std::uint8_t*>(fr.data());
  }
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* gp = static_cast<const T*>(grad.data());
    T* dp = static_cast<T*>(dtable.mutable_data());
    py::gil_scoped_release release;
    scatter_add_rows<T>(v, d, gp, index_ptr(idx), n, dp, frozen);
  });
  return dtable;
}

}  // namespace

void init_dense(py::module_& m) {
  m.def("dense_backward_weight", &dense_bw_py, py::arg("x"), py::arg("dy"), py::arg("dw"),
        py::kw_only(), py::arg("columns") = py::none(), py::arg("rows") = py::none(),
        py::arg("accumulate") = false,
        R"doc(Dense weight gradient dw = x.T @ dy, limited to listed columns or rows; returns dw.

x (N, in), dy (N, out), dw (in, out): same float dtype, C-contiguous; dw is written in
place (+= with accumulate) and must not overlap x or dy. columns (int64, strictly
increasing): only dw[:, columns] = x.T @ dy[:, columns]. rows (int64, strictly
increasing): only dw[rows, :] = x[:, rows].T @ dy. Neither: the full product. Other
elements of dw are neither read nor written. Counter 'dense' / backward_weight counts
the multiply-adds done. The GIL is released.)doc");
  m.def("gather_rows", &gather_py, py::arg("table"), py::arg("indices"),
        py::arg("out") = py::none(),
        R"doc(Embedding lookup: out[..., :] = table[indices[...], :]; returns out.

table (V, D) float32/float64, indices int64 of any shape, out indices.shape + (D,).
An index outside [0, V) raises ValueError naming it (nothing is written). The GIL is
released.)doc");
  m.def("scatter_add_rows", &scatter_add_py, py::arg("grad"), py::arg("indices"),
        py::arg("dtable"), py::kw_only(), py::arg("frozen_rows") = py::none(),
        R"doc(Embedding gradient: dtable[indices[...], :] += grad[..., :]; returns dtable.

grad indices.shape + (D,), dtable (V, D) updated in place (duplicates add up, in index
order whatever the thread count). frozen_rows (bool/uint8 (V,), nonzero = frozen): those
rows are left untouched. An index outside [0, V) raises ValueError naming it (nothing is
written). The GIL is released.)doc");
}

}  // namespace pyfrozen::python
