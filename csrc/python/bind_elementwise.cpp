// Bindings of the element-wise kernels: bias + activation, softmax, log-softmax.
// Arrays of any rank; the last axis is the channel / class axis.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "array_cache.hpp"
#include "arrays.hpp"
#include "pyfrozen/activation.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

using i64 = std::int64_t;

// An input array of any rank >= 1 seen as rows x last-axis.
struct Rows {
  py::array a;
  i64 rows, cols;
};

Rows as_rows(const char* op, const char* arg, const py::handle& obj, Dtype dtype) {
  py::array a = require_tensor(op, arg, obj, dtype, -1);
  if (a.ndim() < 1)
    throw py::value_error(std::string(op) + ": " + arg +
                          " must have at least 1 dimension (the last is the channel axis), "
                          "got shape ()");
  const i64 cols = a.shape(a.ndim() - 1);
  i64 rows = 1;
  for (py::ssize_t i = 0; i + 1 < a.ndim(); ++i) rows *= a.shape(i);
  return {a, rows, cols};
}

// `out` like `like` (new when None), writeable, not overlapping `in` unless it is
// exactly `in` and in_place_ok.
py::array output_like(const char* op, const py::object& out_obj, const py::array& like,
                      Dtype dtype, const char* in_name, const py::array& in,
                      bool in_place_ok = false) {
  return output_arg(op, out_obj, dtype, shape_of(like),
                    std::string("(like ") + in_name + " " + shape_str(like) + ")",
                    {{in_name, in}}, in_place_ok);
}

py::array bias_act_forward_py(const py::handle& x_obj, const py::object& bias_obj,
                              const py::object& out_obj, const std::string& activation) {
  constexpr const char* op = "bias_act_forward";
  const Activation act = parse_activation(op, activation);
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const Rows x = as_rows(op, "x", x_obj, dt);
  const bool has_bias = !bias_obj.is_none();
  py::array bias;  // (a default py::array is an empty array, not a null handle)
  if (has_bias) {
    bias = require_tensor(op, "bias", bias_obj, dt, 1);
    require_shape(op, "bias", bias, {x.cols}, "(the last axis of x " + shape_str(x.a) + ")");
  }
  py::array out = output_like(op, out_obj, x.a, dt, "x", x.a, /*in_place_ok=*/true);
  if (has_bias) require_no_overlap(op, "out", out, "bias", bias);
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* b = has_bias ? static_cast<const T*>(bias.data()) : nullptr;
    const T* px = static_cast<const T*>(x.a.data());
    T* py_ = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    pyfrozen::bias_act_forward<T>(x.rows, x.cols, px, b, act, py_);
  });
  return out;
}

py::tuple bias_act_backward_py(const py::handle& dy_obj, const py::handle& y_obj,
                               const std::string& activation, bool need_dx, bool need_dbias) {
  constexpr const char* op = "bias_act_backward";
  const Activation act = parse_activation(op, activation);
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const Rows dy = as_rows(op, "dy", dy_obj, dt), y = as_rows(op, "y", y_obj, dt);
  require_shape(op, "y", y.a, shape_of(dy.a), "(like dy " + shape_str(dy.a) + ")");
  py::object dx = py::none(), dbias = py::none();
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    T* pdx = nullptr;
    T* pdb = nullptr;
    if (need_dx) {
      py::array a = new_array_like(dy.a);
      pdx = static_cast<T*>(a.mutable_data());
      dx = a;
    }
    if (need_dbias) {
      py::array a = new_array(dy.a.dtype(), {dy.cols});
      pdb = static_cast<T*>(a.mutable_data());
      dbias = a;
    }
    const T* pdy = static_cast<const T*>(dy.a.data());
    const T* py_ = static_cast<const T*>(y.a.data());
    py::gil_scoped_release release;
    pyfrozen::bias_act_backward<T>(dy.rows, dy.cols, pdy, py_, act, pdx, pdb);
  });
  return py::make_tuple(dx, dbias);
}

// softmax / log_softmax forward: y = f(x) along the last axis.
template <typename Kernel>
py::array unary_rows(const char* op, const py::handle& x_obj, const py::object& out_obj,
                     Kernel kernel) {
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const Rows x = as_rows(op, "x", x_obj, dt);
  py::array out = output_like(op, out_obj, x.a, dt, "x", x.a);
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* px = static_cast<const T*>(x.a.data());
    T* po = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    kernel(x.rows, x.cols, px, po);
  });
  return out;
}

// softmax / log_softmax backward: dx = f(dy, y) along the last axis.
template <typename Kernel>
py::array binary_rows(const char* op, const py::handle& dy_obj, const py::handle& y_obj,
                      const py::object& out_obj, Kernel kernel) {
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const Rows dy = as_rows(op, "dy", dy_obj, dt), y = as_rows(op, "y", y_obj, dt);
  require_shape(op, "y", y.a, shape_of(dy.a), "(like dy " + shape_str(dy.a) + ")");
  py::array out = output_like(op, out_obj, dy.a, dt, "dy", dy.a);
  require_no_overlap(op, "out", out, "y", y.a);
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* pdy = static_cast<const T*>(dy.a.data());
    const T* py_ = static_cast<const T*>(y.a.data());
    T* po = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    kernel(dy.rows, dy.cols, pdy, py_, po);
  });
  return out;
}

struct Forward {
  bool log;
  template <typename T>
  void operator()(i64 r, i64 k, const T* x, T* y) const {
    if (log) log_softmax_forward<T>(r, k, x, y); else softmax_forward<T>(r, k, x, y);
  }
};

struct Backward {
  bool log;
  template <typename T>
  void operator()(i64 r, i64 k, const T* dy, const T* y, T* dx) const {
    if (log) log_softmax_backward<T>(r, k, dy, y, dx); else softmax_backward<T>(r, k, dy, y, dx);
  }
};

}  // namespace

void init_elementwise(py::module_& m) {
  m.def("bias_act_forward", &bias_act_forward_py, py::arg("x"), py::arg("bias") = py::none(),
        py::arg("out") = py::none(), py::kw_only(), py::arg("activation") = "relu",
        R"doc(out = activation(x + bias) along the last axis of x (rows x channels).

bias: (C,) or None. activation: 'none', 'relu', 'relu6', 'sigmoid' or 'tanh'.
out may be x itself (in place); otherwise it must not overlap x or bias. GIL released.
)doc");
  m.def("bias_act_backward", &bias_act_backward_py, py::arg("dy"), py::arg("y"), py::kw_only(),
        py::arg("activation"), py::arg("need_dx") = true, py::arg("need_dbias") = true,
        R"doc((dx, dbias) of bias_act_forward from its saved output y (x is not needed).

dx = dy * activation'(y) (None unless need_dx); dbias = dx summed over every axis but
the last (None unless need_dbias). relu / relu6 select dy or 0 from y's range.
)doc");
  m.def("softmax", [](const py::handle& x, const py::object& out) {
          return unary_rows("softmax", x, out, Forward{false});
        }, py::arg("x"), py::arg("out") = py::none(),
        "Softmax along the last axis (max subtracted). out must not overlap x.");
  m.def("log_softmax", [](const py::handle& x, const py::object& out) {
          return unary_rows("log_softmax", x, out, Forward{true});
        }, py::arg("x"), py::arg("out") = py::none(),
        "Log-softmax along the last axis, computed directly (never log(softmax)).");
  m.def("softmax_backward", [](const py::handle& dy, const py::handle& y, const py::object& out) {
          return binary_rows("softmax_backward", dy, y, out, Backward{false});
        }, py::arg("dy"), py::arg("y"), py::arg("out") = py::none(),
        "dx = y * (dy - sum(dy * y)) along the last axis, from the saved softmax output y.");
  m.def("log_softmax_backward",
        [](const py::handle& dy, const py::handle& y, const py::object& out) {
          return binary_rows("log_softmax_backward", dy, y, out, Backward{true});
        }, py::arg("dy"), py::arg("y"), py::arg("out") = py::none(),
        "dx = dy - exp(y) * sum(dy) along the last axis, from the saved log-softmax output y.");
}

}  // namespace pyfrozen::python
