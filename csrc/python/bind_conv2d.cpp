// conv2d_* bindings: NHWC / HWIO numpy arrays in, checked here (dtype, rank,
// contiguity, alignment, shapes, writeable and non-overlapping outputs), GIL released
// around the kernel. Geometry errors come from the C++ core (ShapeError -> ValueError).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "array_cache.hpp"
#include "arrays.hpp"
#include "pyfrozen/conv2d.hpp"
#include "pyfrozen/errors.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

using i64 = std::int64_t;

i64 to_int(const char* op, const char* arg, const py::handle& item, const py::handle& whole) {
  if (!py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item))
    throw py::type_error(std::string(op) + ": " + arg + " must hold ints, got " + repr_of(whole));
  try {
    return item.cast<i64>();
  } catch (const py::cast_error&) {
    throw py::value_error(std::string(op) + ": " + arg + " is out of range: " + repr_of(whole));
  }
}

// An int, or a sequence of exactly n ints.
template <size_t N>
std::array<i64, N> int_tuple(const char* op, const char* arg, const py::handle& obj,
                             bool allow_scalar) {
  std::array<i64, N> out{};
  if (allow_scalar && py::isinstance<py::int_>(obj) && !py::isinstance<py::bool_>(obj)) {
    out.fill(to_int(op, arg, obj, obj));
    return out;
  }
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj) ||
      py::len(obj) != N)
    throw py::type_error(std::string(op) + ": " + arg + " must be " +
                         (allow_scalar ? "an int or " : "") + "a sequence of " +
                         std::to_string(N) + " ints, got " + repr_of(obj));
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
  for (size_t i = 0; i < N; ++i) out[i] = to_int(op, arg, seq[i], obj);
  return out;
}

Conv2dPaddingMode padding_mode(const char* op, const std::string& name) {
  if (name == "valid") return Conv2dPaddingMode::valid;
  if (name == "same") return Conv2dPaddingMode::same;
  throw py::value_error(std::string(op) + ": padding must be 'valid', 'same' or 4 ints (top, "
                        "bottom, left, right), got '" + name + "'");
}

// stride, dilation, groups and padding ("valid", "same" or (top, bottom, left, right));
// a padding name needs the input and kernel sizes in `shape`.
Conv2dParams parse_params(const char* op, const py::handle& stride, const py::handle& dilation,
                          const py::handle& padding, i64 groups, const Conv2dShape& shape) {
  Conv2dParams p;
  const auto st = int_tuple<2>(op, "stride", stride, true);
  const auto di = int_tuple<2>(op, "dilation", dilation, true);
  p.stride_h = st[0], p.stride_w = st[1];
  p.dilation_h = di[0], p.dilation_w = di[1];
  p.groups = groups;
  if (py::isinstance<py::str>(padding)) {
    const Conv2dPaddingMode mode = padding_mode(op, padding.cast<std::string>());
    // With a bad size, stride or dilation the padding stays 0 and the geometry check
    // reports that argument under this op's name.
    const bool computable = shape.h > 0 && shape.w > 0 && shape.kh > 0 && shape.kw > 0 &&
                            p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 &&
                            p.dilation_w > 0;
    if (mode == Conv2dPaddingMode::same && computable)
      p.padding = conv2d_padding(shape.h, shape.w, shape.kh, shape.kw, p.stride_h, p.stride_w,
                                 p.dilation_h, p.dilation_w, mode);
  } else {
    const auto pd = int_tuple<4>(op, "padding", padding, false);
    p.padding = {pd[0], pd[1], pd[2], pd[3]};
  }
  return p;
}

// A C-contiguous float tensor of `dtype`, also aligned to its element size (a view
// into a byte buffer can be misaligned; the kernels assume natural alignment).
py::array tensor(const char* op, const char* arg, const py::handle& obj, Dtype dtype, int ndim) {
  py::array a = require_tensor(op, arg, obj, dtype, ndim);
  require_aligned(op, arg, a);
  return a;
}

std::string shapes_of(const Conv2dShape& s) {
  return "(input " + shape_str({s.n, s.h, s.w, s.c}) + ", kernel " +
         shape_str({s.kh, s.kw, s.kc, s.c_out}) + ")";
}

// An optional per-output-channel vector (bias, scale, shift): None or c_out values.
template <typename T>
const T* channel_vector(const char* op, const char* arg, const py::object& obj, Dtype dtype,
                        const Conv2dShape& s,
                        std::vector<std::pair<const char*, py::array>>& keep) {
  if (obj.is_none()) return nullptr;
  py::array a = tensor(op, arg, obj, dtype, 1);
  require_shape(op, arg, a, {s.c_out}, "(one value per output channel, " + shapes_of(s) + ")");
  keep.push_back({arg, a});
  return static_cast<const T*>(a.data());
}

// The output array: allocated (zeroed when `zero`) or the caller's, checked.
template <typename T>
py::array output(const char* op, const py::object& out_obj, Dtype dtype,
                 const std::vector<i64>& shape, const std::string& context,
                 const std::vector<std::pair<const char*, py::array>>& inputs, bool zero = false) {
  py::array out = output_arg(op, out_obj, dtype, shape, context, inputs);
  if (zero && out_obj.is_none()) {
    T* data = static_cast<T*>(out.mutable_data());
    std::fill(data, data + out.size(), T(0));
  }
  return out;
}

// conv2d_output_size with the error message naming `op` rather than "conv2d".
Conv2dOutputSize output_size(const char* op, const Conv2dShape& s, const Conv2dParams& p) {
  try {
    return conv2d_output_size(s, p);
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    const size_t colon = what.find(':');
    throw py::value_error(std::string(op) + (colon == std::string::npos ? ": " + what
                                                                          : what.substr(colon)));
  }
}

Conv2dShape shape_from(const py::array& x, i64 kh, i64 kw, i64 kc, i64 c_out) {
  return {x.shape(0), x.shape(1), x.shape(2), x.shape(3), kh, kw, kc, c_out};
}

// ---- forward ----------------------------------------------------------------------------

template <typename T>
py::array forward(const py::array& x, const py::array& w, const py::object& bias,
                  const py::object& out_obj, const py::handle& stride, const py::handle& dilation,
                  const py::handle& padding, i64 groups, const py::object& scale,
                  const py::object& shift, const std::string& activation, Dtype dt) {
  const char* op = "conv2d_forward";
  const Conv2dShape s = shape_from(x, w.shape(0), w.shape(1), w.shape(2), w.shape(3));
  const Conv2dParams p = parse_params(op, stride, dilation, padding, groups, s);
  const Conv2dOutputSize o = output_size(op, s, p);
  std::vector<std::pair<const char*, py::array>> inputs{{"x", x}, {"w", w}};
  Conv2dEpilogue<T> ep;
  ep.bias = channel_vector<T>(op, "bias", bias, dt, s, inputs);
  ep.scale = channel_vector<T>(op, "scale", scale, dt, s, inputs);
  ep.shift = channel_vector<T>(op, "shift", shift, dt, s, inputs);
  ep.activation = parse_activation(op, activation);
  py::array out = output<T>(op, out_obj, dt, {s.n, o.h, o.w, s.c_out}, shapes_of(s), inputs);
  const T* px = static_cast<const T*>(x.data());
  const T* pw = static_cast<const T*>(w.data());
  T* py_ = static_cast<T*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    conv2d_forward<T>(s, p, px, pw, py_, ep);
  }
  return out;
}

py::array forward_py(const py::handle& x_obj, const py::handle& w_obj, const py::object& bias,
                     const py::object& out, const py::object& stride, const py::object& dilation,
                     const py::object& padding, i64 groups, const py::object& scale,
                     const py::object& shift, const std::string& activation) {
  const char* op = "conv2d_forward";
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const py::array x = tensor(op, "x", x_obj, dt, 4), w = tensor(op, "w", w_obj, dt, 4);
  return with_dtype(dt, [&](auto t) {
    return forward<decltype(t)>(x, w, bias, out, stride, dilation, padding, groups, scale, shift,
                                activation, dt);
  });
}

// ---- backward input ---------------------------------------------------------------------

py::array backward_input_py(const py::handle& dy_obj, const py::handle& w_obj,
                            const py::object& out_obj, const py::object& input_shape,
                            const py::object& stride, const py::object& dilation,
                            const py::object& padding, i64 groups) {
  const char* op = "conv2d_backward_input";
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const py::array dy = tensor(op, "dy", dy_obj, dt, 4), w = tensor(op, "w", w_obj, dt, 4);
  const auto in = int_tuple<4>(op, "input_shape", input_shape, false);
  const Conv2dShape s{in[0], in[1], in[2], in[3], w.shape(0), w.shape(1), w.shape(2), w.shape(3)};
  const Conv2dParams p = parse_params(op, stride, dilation, padding, groups, s);
  const Conv2dOutputSize o = output_size(op, s, p);
  require_shape(op, "dy", dy, {s.n, o.h, o.w, s.c_out}, "(the output of " + shapes_of(s) + ")");
  return with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    py::array out = output<T>(op, out_obj, dt, {s.n, s.h, s.w, s.c}, shapes_of(s),
                              {{"dy", dy}, {"w", w}});
    const T* pdy = static_cast<const T*>(dy.data());
    const T* pw = static_cast<const T*>(w.data());
    T* pdx = static_cast<T*>(out.mutable_data());
    {
      py::gil_scoped_release release;
      conv2d_backward_input<T>(s, p, pdy, pw, pdx);
    }
    return out;
  });
}

// ---- backward weight --------------------------------------------------------------------

py::array channel_list(const char* op, const py::object& obj, i64 c_out) {
  py::array a = require_array(op, "channels", obj);
  if (!a.dtype().equal(py::dtype::of<std::int64_t>()))
    throw py::type_error(std::string(op) + ": channels must be an int64 array, got " +
                         dtype_str(a) + " " + shape_str(a));
  if (a.ndim() != 1 || !(a.flags() & py::array::c_style))
    throw py::value_error(std::string(op) + ": channels must be a contiguous 1-D array of "
                          "output channel indices in [0, " + std::to_string(c_out) +
                          "), got shape " + shape_str(a));
  return a;
}

py::array backward_weight_py(const py::handle& x_obj, const py::handle& dy_obj,
                             const py::object& out_obj, const py::object& kernel_size,
                             const py::object& stride, const py::object& dilation,
                             const py::object& padding, i64 groups, const py::object& channels) {
  const char* op = "conv2d_backward_weight";
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const py::array x = tensor(op, "x", x_obj, dt, 4), dy = tensor(op, "dy", dy_obj, dt, 4);
  const auto k = int_tuple<2>(op, "kernel_size", kernel_size, true);
  // kc from groups; a groups that does not divide c is reported by the core.
  const i64 kc = groups >= 1 && x.shape(3) % groups == 0 ? x.shape(3) / groups : 0;
  const Conv2dShape s = shape_from(x, k[0], k[1], std::max<i64>(kc, 1), dy.shape(3));
  Conv2dParams p = parse_params(op, stride, dilation, padding, groups, s);
  const Conv2dOutputSize o = output_size(op, s, p);
  require_shape(op, "dy", dy, {s.n, o.h, o.w, s.c_out}, "(the output of " + shapes_of(s) + ")");
  // (a default-constructed py::array is a real empty array, so keep a flag)
  const bool limited = !channels.is_none();
  py::array chan;
  if (limited) chan = channel_list(op, channels, s.c_out);
  return with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    py::array out = output<T>(op, out_obj, dt, {s.kh, s.kw, s.kc, s.c_out}, shapes_of(s),
                              {{"x", x}, {"dy", dy}}, true);
    const T* px = static_cast<const T*>(x.data());
    const T* pdy = static_cast<const T*>(dy.data());
    T* pdw = static_cast<T*>(out.mutable_data());
    const i64* pc = limited ? static_cast<const i64*>(chan.data()) : nullptr;
    const i64 nc = limited ? chan.shape(0) : 0;
    {
      py::gil_scoped_release release;
      conv2d_backward_weight<T>(s, p, px, pdy, pdw, pc, nc);
    }
    return out;
  });
}

// ---- backward bias, padding -------------------------------------------------------------

py::array backward_bias_py(const py::handle& dy_obj, const py::object& out_obj) {
  const char* op = "conv2d_backward_bias";
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const py::array dy = tensor(op, "dy", dy_obj, dt, 4);
  const i64 rows = dy.shape(0) * dy.shape(1) * dy.shape(2), c = dy.shape(3);
  return with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    py::array out = output<T>(op, out_obj, dt, {c}, "(the channels of dy " + shape_str(dy) + ")",
                              {{"dy", dy}});
    const T* pdy = static_cast<const T*>(dy.data());
    T* pdb = static_cast<T*>(out.mutable_data());
    {
      py::gil_scoped_release release;
      conv2d_backward_bias<T>(rows, c, pdy, pdb);
    }
    return out;
  });
}

py::tuple padding_py(i64 h, i64 w, i64 kh, i64 kw, const py::object& stride,
                     const py::object& dilation, const std::string& padding) {
  const char* op = "conv2d_padding";
  const auto st = int_tuple<2>(op, "stride", stride, true);
  const auto di = int_tuple<2>(op, "dilation", dilation, true);
  const Conv2dPadding p =
      conv2d_padding(h, w, kh, kw, st[0], st[1], di[0], di[1], padding_mode(op, padding));
  return py::make_tuple(p.top, p.bottom, p.left, p.right);
}

}  // namespace

void init_conv2d(py::module_& m) {
  // Defaults written without commas (1 == (1, 1), "valid" == (0, 0, 0, 0)): the stub
  // test reads parameter names off the signature line.
  const auto one = py::int_(1);
  const auto zero4 = py::str("valid");
  m.def("conv2d_forward", &forward_py, py::arg("x"), py::arg("w"), py::arg("bias") = py::none(),
        py::arg("out") = py::none(), py::kw_only(), py::arg("stride") = one,
        py::arg("dilation") = one, py::arg("padding") = zero4, py::arg("groups") = 1,
        py::arg("scale") = py::none(), py::arg("shift") = py::none(),
        py::arg("activation") = "none",
        R"doc(2-D convolution: y = activation(conv(x, w) * scale + shift + bias).

x: (N, H, W, Cin), w: (KH, KW, Cin // groups, Cout) (HWIO), y: (N, OH, OW, Cout);
float32 or float64, C-contiguous, one dtype. stride / dilation: int or (h, w).
padding: (top, bottom, left, right), 'valid' or 'same' (TensorFlow's rule: the odd
pixel at the bottom / right). groups == Cin is depthwise (output channel
c * multiplier + m reads input channel c). bias, scale, shift: optional (Cout,)
arrays; activation: 'none', 'relu', 'relu6', 'sigmoid', 'tanh'. `out` is only
written and must not overlap the inputs. The GIL is released.)doc");
  m.def("conv2d_backward_input", &backward_input_py, py::arg("dy"), py::arg("w"),
        py::arg("out") = py::none(), py::kw_only(), py::arg("input_shape"),
        py::arg("stride") = one, py::arg("dilation") = one, py::arg("padding") = zero4,
        py::arg("groups") = 1,
        R"doc(Gradient of conv2d_forward (without epilogue) with respect to x.

dy: (N, OH, OW, Cout), w: (KH, KW, Cin // groups, Cout); input_shape (N, H, W, Cin)
is needed because several input sizes give one output size. Returns dx with shape
input_shape (overwritten in `out` if given). The GIL is released.)doc");
  m.def("conv2d_backward_weight", &backward_weight_py, py::arg("x"), py::arg("dy"),
        py::arg("out") = py::none(), py::kw_only(), py::arg("kernel_size"),
        py::arg("stride") = one, py::arg("dilation") = one, py::arg("padding") = zero4,
        py::arg("groups") = 1, py::arg("channels") = py::none(),
        R"doc(Gradient of conv2d_forward with respect to w: (KH, KW, Cin // groups, Cout).

channels: None (all) or a 1-D int64 array of distinct output channels: only those
channels of dw are computed and written, the others are left untouched in `out`
(zero in a newly allocated result), and the work shrinks in proportion. The GIL is
released.)doc");
  m.def("conv2d_backward_bias", &backward_bias_py, py::arg("dy"), py::arg("out") = py::none(),
        R"doc(Gradient of the bias: the sum of dy (N, OH, OW, Cout) over N, OH, OW.)doc");
  m.def("conv2d_padding", &padding_py, py::arg("h"), py::arg("w"), py::arg("kh"), py::arg("kw"),
        py::arg("stride") = one, py::arg("dilation") = one, py::arg("padding") = "valid",
        R"doc(Explicit (top, bottom, left, right) padding for 'valid' or 'same'.

'same' follows TensorFlow: the output has ceil(size / stride) pixels and the odd
padding pixel goes to the bottom / right.

>>> from pyfrozen._core import conv2d_padding
>>> conv2d_padding(96, 96, 3, 3, stride=2, padding="same")
(0, 1, 0, 1)
)doc");
}

}  // namespace pyfrozen::python
