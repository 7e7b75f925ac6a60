// Bindings of the pooling kernels (NHWC). Options as Keras spells them: pool_size and
// strides as an int or a pair, padding 'valid', 'same' or ((top, bottom), (left, right)).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "array_cache.hpp"
#include "arrays.hpp"
#include "pyfrozen/pooling.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

using i64 = std::int64_t;
using Pair = std::array<i64, 2>;

bool is_int(const py::handle& o) {
  return py::isinstance<py::int_>(o) && !py::isinstance<py::bool_>(o);
}

// A Python int with |v| <= 2**31 (larger sizes would overflow the geometry's sums).
bool small_int(const py::handle& o, i64& v) {
  if (!is_int(o)) return false;
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(o.ptr(), &overflow);
  if (overflow != 0 || x < -(1LL << 31) || x > (1LL << 31)) return false;
  v = x;
  return true;
}

// An int or a sequence of exactly two ints.
bool to_pair(const py::handle& o, Pair& out) {
  i64 a = 0, b = 0;
  if (small_int(o, a)) {
    out = {a, a};
    return true;
  }
  if (!(py::isinstance<py::tuple>(o) || py::isinstance<py::list>(o)) || py::len(o) != 2)
    return false;
  const py::sequence s = py::reinterpret_borrow<py::sequence>(o);
  if (!small_int(s[0], a) || !small_int(s[1], b)) return false;
  out = {a, b};
  return true;
}

Pair int_pair(const char* op, const char* arg, const py::handle& o) {
  Pair p{};
  if (!to_pair(o, p))
    throw py::type_error(std::string(op) + ": " + arg + " must be an int or a pair of ints (at most 2**31), got " +
                         repr_of(o));
  return p;
}

// The Pool2d for an h x w input from the Python options.
Pool2d pool_params(const char* op, i64 h, i64 w, const py::handle& pool_size,
                   const py::handle& strides, const py::handle& padding) {
  const Pair k = int_pair(op, "pool_size", pool_size);
  const Pair s = strides.is_none() ? k : int_pair(op, "strides", strides);
  const std::string bad = std::string(op) +
                          ": padding must be 'valid', 'same' or ((top, bottom), (left, right)), "
                          "got " + repr_of(padding);
  if (py::isinstance<py::str>(padding)) {
    const std::string mode = padding.cast<std::string>();
    if (mode == "valid") return {k[0], k[1], s[0], s[1], 0, 0, 0, 0};
    if (mode == "same") {
      if (k[0] <= 0 || k[1] <= 0 || s[0] <= 0 || s[1] <= 0)  // pool2d_output says why
        return {k[0], k[1], s[0], s[1], 0, 0, 0, 0};
      return pool2d_same(h, w, k[0], k[1], s[0], s[1]);
    }
    throw py::value_error(bad);
  }
  Pair tb{}, lr{};
  if (!(py::isinstance<py::tuple>(padding) || py::isinstance<py::list>(padding)) ||
      py::len(padding) != 2)
    throw py::type_error(bad);
  const py::sequence pads = py::reinterpret_borrow<py::sequence>(padding);
  if (is_int(pads[0]) || is_int(pads[1]) || !to_pair(pads[0], tb) || !to_pair(pads[1], lr))
    throw py::type_error(bad);
  return {k[0], k[1], s[0], s[1], tb[0], tb[1], lr[0], lr[1]};
}

py::array require_nhwc(const char* op, const char* arg, const py::handle& obj, Dtype dt) {
  return require_tensor(op, arg, obj, dt, 4);
}

std::vector<i64> input_shape_arg(const char* op, const py::handle& obj) {
  std::vector<i64> shape;
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj))
    for (const py::handle& v : obj) {
      i64 d = 0;
      if (!small_int(v, d) || d < 0) break;
      shape.push_back(d);
    }
  if (shape.size() != 4 || shape.size() != py::len(obj))
    throw py::value_error(std::string(op) +
                          ": input_shape must be 4 non-negative ints (N, H, W, C) up to 2**31, got " +
                          repr_of(obj));
  return shape;
}

constexpr const char* kResultShape = "(the result's shape)";

enum class Kind { max, avg };

py::array pool_forward(Kind kind, const py::handle& x_obj, const py::object& out_obj,
                       const py::handle& pool_size, const py::handle& strides,
                       const py::handle& padding) {
  const char* op = kind == Kind::max ? "max_pool2d_forward" : "avg_pool2d_forward";
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const py::array x = require_nhwc(op, "x", x_obj, dt);
  const i64 n = x.shape(0), h = x.shape(1), w = x.shape(2), c = x.shape(3);
  const Pool2d p = pool_params(op, h, w, pool_size, strides, padding);
  const PoolOutput o = pool2d_output(op, h, w, p);
  py::array out = output_arg(op, out_obj, dt, {n, o.h, o.w, c}, kResultShape, {{"x", x}});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* px = static_cast<const T*>(x.data());
    T* py_ = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    if (kind == Kind::max) max_pool2d_forward<T>(n, h, w, c, p, px, py_);
    else avg_pool2d_forward<T>(n, h, w, c, p, px, py_);
  });
  return out;
}

// dy must be (N, OH, OW, C) for the input shape (N, H, W, C).
void require_dy(const char* op, const py::array& dy, const std::vector<i64>& in, const Pool2d& p) {
  const PoolOutput o = pool2d_output(op, in[1], in[2], p);
  require_shape(op, "dy", dy, {in[0], o.h, o.w, in[3]},
                "(the pooled shape of input " + shape_str(in) + ")");
}

py::array max_backward(const py::handle& dy_obj, const py::handle& x_obj,
                       const py::object& out_obj, const py::handle& pool_size,
                       const py::handle& strides, const py::handle& padding) {
  constexpr const char* op = "max_pool2d_backward";
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const py::array dy = require_nhwc(op, "dy", dy_obj, dt), x = require_nhwc(op, "x", x_obj, dt);
  const std::vector<i64> in = shape_of(x);
  const Pool2d p = pool_params(op, in[1], in[2], pool_size, strides, padding);
  require_dy(op, dy, in, p);
  py::array out = output_arg(op, out_obj, dt, in, kResultShape, {{"dy", dy}, {"x", x}});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* px = static_cast<const T*>(x.data());
    const T* pdy = static_cast<const T*>(dy.data());
    T* pdx = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    max_pool2d_backward<T>(in[0], in[1], in[2], in[3], p, px, pdy, pdx);
  });
  return out;
}

py::array avg_backward(const py::handle& dy_obj, const py::handle& shape_obj,
                       const py::object& out_obj, const py::handle& pool_size,
                       const py::handle& strides, const py::handle& padding) {
  constexpr const char* op = "avg_pool2d_backward";
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const py::array dy = require_nhwc(op, "dy", dy_obj, dt);
  const std::vector<i64> in = input_shape_arg(op, shape_obj);
  const Pool2d p = pool_params(op, in[1], in[2], pool_size, strides, padding);
  require_dy(op, dy, in, p);
  py::array out = output_arg(op, out_obj, dt, in, kResultShape, {{"dy", dy}});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* pdy = static_cast<const T*>(dy.data());
    T* pdx = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    avg_pool2d_backward<T>(in[0], in[1], in[2], in[3], p, pdy, pdx);
  });
  return out;
}

py::array global_forward(const py::handle& x_obj, const py::object& out_obj) {
  constexpr const char* op = "global_avg_pool_forward";
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const py::array x = require_nhwc(op, "x", x_obj, dt);
  const i64 n = x.shape(0), h = x.shape(1), w = x.shape(2), c = x.shape(3);
  if (h == 0 || w == 0)
    throw py::value_error(std::string(op) + ": x " + shape_str(x) +
                          " must have a positive height and width");
  py::array out = output_arg(op, out_obj, dt, {n, c}, kResultShape, {{"x", x}});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* px = static_cast<const T*>(x.data());
    T* py_ = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    global_avg_pool_forward<T>(n, h, w, c, px, py_);
  });
  return out;
}

py::array global_backward(const py::handle& dy_obj, const py::handle& shape_obj,
                          const py::object& out_obj) {
  constexpr const char* op = "global_avg_pool_backward";
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const py::array dy = require_tensor(op, "dy", dy_obj, dt, 2);
  const std::vector<i64> in = input_shape_arg(op, shape_obj);
  if (in[1] == 0 || in[2] == 0)
    throw py::value_error(std::string(op) + ": input_shape " + shape_str(in) +
                          " must have a positive height and width");
  require_shape(op, "dy", dy, {in[0], in[3]}, "(N, C of input_shape " + shape_str(in) + ")");
  py::array out = output_arg(op, out_obj, dt, in, kResultShape, {{"dy", dy}});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T* pdy = static_cast<const T*>(dy.data());
    T* pdx = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release release;
    global_avg_pool_backward<T>(in[0], in[1], in[2], in[3], pdy, pdx);
  });
  return out;
}

}  // namespace

void init_pooling(py::module_& m) {
  const auto fwd = [](Kind kind) {
    return [kind](const py::handle& x, const py::object& out, const py::handle& pool_size,
                  const py::handle& strides, const py::handle& padding) {
      return pool_forward(kind, x, out, pool_size, strides, padding);
    };
  };
  m.def("max_pool2d_forward", fwd(Kind::max), py::arg("x"), py::arg("out") = py::none(),
        py::kw_only(), py::arg("pool_size"), py::arg("strides") = py::none(),
        py::arg("padding") = "valid",
        R"doc(2-D max pooling of x (N, H, W, C); padded cells are ignored.

pool_size / strides: int or (h, w); strides=None means pool_size. padding: 'valid',
'same' (TF's rule: the extra row/column at the bottom/right) or ((top, bottom),
(left, right)), each smaller than the pool size.
)doc");
  m.def("max_pool2d_backward", &max_backward, py::arg("dy"), py::arg("x"),
        py::arg("out") = py::none(), py::kw_only(), py::arg("pool_size"),
        py::arg("strides") = py::none(), py::arg("padding") = "valid",
        "dx of max_pool2d: each dy goes to the first max of its window (recomputed from x); "
        "overlapping windows accumulate.");
  m.def("avg_pool2d_forward", fwd(Kind::avg), py::arg("x"), py::arg("out") = py::none(),
        py::kw_only(), py::arg("pool_size"), py::arg("strides") = py::none(),
        py::arg("padding") = "valid",
        "2-D average pooling of x (N, H, W, C); each window divides by its number of real "
        "(non-padded) cells, as TF/Keras 'same'.");
  m.def("avg_pool2d_backward", &avg_backward, py::arg("dy"), py::arg("input_shape"),
        py::arg("out") = py::none(), py::kw_only(), py::arg("pool_size"),
        py::arg("strides") = py::none(), py::arg("padding") = "valid",
        "dx (input_shape) of avg_pool2d: dy spread evenly over the real cells of its window.");
  m.def("global_avg_pool_forward", &global_forward, py::arg("x"), py::arg("out") = py::none(),
        "Mean of x (N, H, W, C) over H and W: (N, C).");
  m.def("global_avg_pool_backward", &global_backward, py::arg("dy"), py::arg("input_shape"),
        py::arg("out") = py::none(),
        "dx (input_shape (N, H, W, C)) = dy (N, C) / (H * W) at every pixel.");
}

}  // namespace pyfrozen::python
