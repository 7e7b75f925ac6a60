// Bindings of the batchnorm kernels: x (any rank >= 2) is normalized over its last
// axis, the channels; per-channel arrays are 1-D of that length.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "array_cache.hpp"
#include "arrays.hpp"
#include "pyfrozen/batchnorm.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

using i64 = std::int64_t;
/// An optional array argument or output (absent: None / not computed).
using Opt = std::optional<py::array>;

/// The activation-like argument (x or dy): rank >= 2, seen as rows x channels.
struct Rows {
  py::array a;
  i64 rows = 0, channels = 0;
};

Rows require_rows(const char* op, const char* arg, const py::handle& obj, Dtype dtype) {
  Rows r{require_tensor(op, arg, obj, dtype, -1)};
  if (r.a.ndim() < 2)
    throw py::value_error(std::string(op) + ": " + arg +
                          " must have at least 2 dimensions (batch, ..., channels), got shape " +
                          shape_str(r.a));
  r.channels = r.a.shape(r.a.ndim() - 1);
  r.rows = 1;
  for (py::ssize_t i = 0; i + 1 < r.a.ndim(); ++i) r.rows *= r.a.shape(i);
  return r;
}

std::string of_x(const char* name, const Rows& x) {
  return "(channels of " + std::string(name) + " " + shape_str(x.a) + ")";
}

/// A per-channel array of shape (C,), or (rows, C) when rows > 0 (the forward's affine
/// constants: rows center, scale, shift), or None when allowed.
Opt channel_arg(const char* op, const char* arg, const py::handle& obj, Dtype dtype,
                      const Rows& x, const char* x_name, bool allow_none, bool output = false,
                      i64 rows = 0) {
  if (obj.is_none()) {
    if (!allow_none)
      throw py::type_error(std::string(op) + ": " + arg + " must be a numpy.ndarray, got None");
    return std::nullopt;
  }
  py::array a = output ? require_output(op, arg, obj, dtype, -1)
                       : require_tensor(op, arg, obj, dtype, -1);
  require_shape(op, arg, a, rows > 0 ? std::vector<i64>{rows, x.channels}
                                     : std::vector<i64>{x.channels}, of_x(x_name, x));
  return a;
}

template <typename T>
const T* ptr(const Opt& a) {
  return a ? static_cast<const T*>(a->data()) : nullptr;
}
template <typename T>
T* mut(const Opt& a) {  // outputs were checked writeable (or are fresh arrays)
  return a ? static_cast<T*>(const_cast<void*>(a->data())) : nullptr;
}

/// `out=` for y: None (allocate) or a writeable array shaped like x, overlapping no input.
py::array output_like(const char* op, const py::handle& obj, Dtype dtype, const Rows& x,
                      const std::vector<std::pair<const char*, Opt>>& inputs) {
  std::vector<std::pair<const char*, py::array>> given;
  for (const auto& [name, in] : inputs)
    if (in) given.emplace_back(name, *in);
  return output_arg(op, obj, dtype, shape_of(x.a), "(x " + shape_str(x.a) + ")", given);
}

py::object or_none(const Opt& a) { return a ? py::object(*a) : py::object(py::none()); }

}  // namespace

// ---- forward -----------------------------------------------------------------------
namespace {

py::tuple forward_training(const py::handle& x_obj, const py::handle& gamma_obj,
                           const py::handle& beta_obj, double epsilon, double momentum,
                           const py::handle& rm_obj, const py::handle& rv_obj,
                           const py::handle& out_obj, const std::string& activation,
                           const py::handle& affine_obj) {
  const char* op = "batchnorm_forward_training";
  const Activation act = parse_activation(op, activation);
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const Rows x = require_rows(op, "x", x_obj, dt);
  const Opt gamma = channel_arg(op, "gamma", gamma_obj, dt, x, "x", true);
  const Opt beta = channel_arg(op, "beta", beta_obj, dt, x, "x", true);
  const Opt rm = channel_arg(op, "running_mean", rm_obj, dt, x, "x", true, true);
  const Opt rv = channel_arg(op, "running_var", rv_obj, dt, x, "x", true, true);
  if (rm.has_value() != rv.has_value())
    throw py::value_error(std::string(op) + ": running_mean and running_var must be given " +
                          "together (got only " + (rm ? "running_mean" : "running_var") + ")");
  if (rm) {  // updated in place: must not share memory with anything else
    require_no_overlap(op, "running_mean", *rm, "running_var", *rv);
    for (const auto& [name, in] : {std::pair<const char*, Opt>{"x", x.a}, {"gamma", gamma},
                                   {"beta", beta}}) {
      if (!in) continue;
      require_no_overlap(op, "running_mean", *rm, name, *in);
      require_no_overlap(op, "running_var", *rv, name, *in);
    }
  }
  const Opt y = output_like(op, out_obj, dt, x,
                                  {{"x", x.a}, {"gamma", gamma}, {"beta", beta},
                                   {"running_mean", rm}, {"running_var", rv}});
  const Opt affine = channel_arg(op, "affine_out", affine_obj, dt, x, "x", true, true, 3);
  if (affine)
    for (const auto& [name, in] : {std::pair<const char*, Opt>{"x", x.a}, {"gamma", gamma},
                                   {"beta", beta}, {"running_mean", rm}, {"running_var", rv},
                                   {"out", y}})
      if (in) require_no_overlap(op, "affine_out", *affine, name, *in);
  const Opt mean = new_array(x.a.dtype(), {x.channels});
  const Opt inv_std = new_array(x.a.dtype(), {x.channels});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T *px = ptr<T>(x.a), *pg = ptr<T>(gamma), *pb = ptr<T>(beta);
    T *py_ = mut<T>(y), *pm = mut<T>(mean), *pi = mut<T>(inv_std);
    T *prm = mut<T>(rm), *prv = mut<T>(rv), *pa = mut<T>(affine);
    py::gil_scoped_release release;
    batchnorm_forward_training<T>(x.rows, x.channels, px, pg, pb, static_cast<T>(epsilon), py_,
                                  pm, pi, prm, prv, static_cast<T>(momentum), act, pa);
  });
  return py::make_tuple(*y, *mean, *inv_std);
}

py::array forward_inference(const py::handle& x_obj, const py::handle& gamma_obj,
                            const py::handle& beta_obj, const py::handle& rm_obj,
                            const py::handle& rv_obj, double epsilon,
                            const py::handle& out_obj) {
  const char* op = "batchnorm_forward_inference";
  const Dtype dt = float_dtype(op, "x", require_array(op, "x", x_obj));
  const Rows x = require_rows(op, "x", x_obj, dt);
  const Opt gamma = channel_arg(op, "gamma", gamma_obj, dt, x, "x", true);
  const Opt beta = channel_arg(op, "beta", beta_obj, dt, x, "x", true);
  const Opt rm = channel_arg(op, "running_mean", rm_obj, dt, x, "x", false);
  const Opt rv = channel_arg(op, "running_var", rv_obj, dt, x, "x", false);
  const Opt y = output_like(op, out_obj, dt, x,
                                  {{"x", x.a}, {"gamma", gamma}, {"beta", beta},
                                   {"running_mean", rm}, {"running_var", rv}});
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T *px = ptr<T>(x.a), *pg = ptr<T>(gamma), *pb = ptr<T>(beta);
    const T *prm = ptr<T>(rm), *prv = ptr<T>(rv);
    T* py_ = mut<T>(y);
    py::gil_scoped_release release;
    batchnorm_forward_inference<T>(x.rows, x.channels, px, pg, pb, prm, prv,
                                   static_cast<T>(epsilon), py_);
  });
  return *y;
}

}  // namespace

// ---- backward ----------------------------------------------------------------------
namespace {

/// An input of a backward shaped like dy (x, y), or None when `needed` is false.
Opt like_dy(const char* op, const char* arg, const py::handle& obj, Dtype dt, const Rows& dy,
            bool needed, const char* why) {
  if (obj.is_none()) {
    if (needed)
      throw py::type_error(std::string(op) + ": " + arg + " is None but " + why + " needs it");
    return std::nullopt;
  }
  py::array a = require_tensor(op, arg, obj, dt, -1);
  require_shape(op, arg, a, shape_of(dy.a), "(dy " + shape_str(dy.a) + ")");
  return a;
}

struct Grads {
  Opt dx, dgamma, dbeta;
  Grads(const Rows& dy, bool need_dx, bool need_dgamma, bool need_dbeta) {
    const std::vector<i64> c{dy.channels};
    if (need_dx) dx = new_array_like(dy.a);
    if (need_dgamma) dgamma = new_array(dy.a.dtype(), c);
    if (need_dbeta) dbeta = new_array(dy.a.dtype(), c);
  }
  py::tuple tuple() const { return py::make_tuple(or_none(dx), or_none(dgamma), or_none(dbeta)); }
};

py::tuple backward_training(const py::handle& dy_obj, const py::handle& x_obj,
                            const py::handle& gamma_obj, const py::handle& mean_obj,
                            const py::handle& inv_std_obj, bool need_dx, bool need_dgamma,
                            bool need_dbeta, const py::handle& y_obj,
                            const std::string& activation, const py::handle& affine_obj) {
  const char* op = "batchnorm_backward_training";
  const Activation act = parse_activation(op, activation);
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const Rows dy = require_rows(op, "dy", dy_obj, dt);
  const bool stats = need_dx || need_dgamma;
  if (act == Activation::none && !(y_obj.is_none() && affine_obj.is_none()))
    throw py::value_error(std::string(op) + ": y and affine are read only through an " +
                          "activation, but activation is 'none' (pass the forward's " +
                          "activation with its y or affine_out)");
  const Opt affine = channel_arg(op, "affine", affine_obj, dt, dy, "dy", true, false, 3);
  const bool through_act = act != Activation::none && (stats || need_dbeta);
  const Opt x = like_dy(op, "x", x_obj, dt, dy, stats || (affine && through_act),
                        stats ? "dx or dgamma" : "the activation recomputed from affine");
  const Opt y = like_dy(op, "y", y_obj, dt, dy, through_act && !affine,
                        "the gradient through the activation (or pass affine)");
  const Opt gamma = channel_arg(op, "gamma", gamma_obj, dt, dy, "dy", true);
  const Opt mean = channel_arg(op, "mean", mean_obj, dt, dy, "dy", !stats);
  const Opt inv_std = channel_arg(op, "inv_std", inv_std_obj, dt, dy, "dy", !stats);
  const Grads g(dy, need_dx, need_dgamma, need_dbeta);
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T *pdy = ptr<T>(dy.a), *px = ptr<T>(x), *pg = ptr<T>(gamma);
    const T *pm = ptr<T>(mean), *pi = ptr<T>(inv_std), *pyv = ptr<T>(y), *pa = ptr<T>(affine);
    T *pdx = mut<T>(g.dx), *pdg = mut<T>(g.dgamma), *pdb = mut<T>(g.dbeta);
    py::gil_scoped_release release;
    batchnorm_backward_training<T>(dy.rows, dy.channels, pdy, px, pg, pm, pi, pdx, pdg, pdb,
                                   pyv, act, pa);
  });
  return g.tuple();
}

py::tuple backward_inference(const py::handle& dy_obj, const py::handle& x_obj,
                             const py::handle& gamma_obj, const py::handle& rm_obj,
                             const py::handle& rv_obj, double epsilon, bool need_dx,
                             bool need_dgamma, bool need_dbeta) {
  const char* op = "batchnorm_backward_inference";
  const Dtype dt = float_dtype(op, "dy", require_array(op, "dy", dy_obj));
  const Rows dy = require_rows(op, "dy", dy_obj, dt);
  const Opt x = like_dy(op, "x", x_obj, dt, dy, need_dgamma, "dgamma");
  const Opt gamma = channel_arg(op, "gamma", gamma_obj, dt, dy, "dy", true);
  const Opt rm = channel_arg(op, "running_mean", rm_obj, dt, dy, "dy", false);
  const Opt rv = channel_arg(op, "running_var", rv_obj, dt, dy, "dy", false);
  const Grads g(dy, need_dx, need_dgamma, need_dbeta);
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    const T *pdy = ptr<T>(dy.a), *px = ptr<T>(x), *pg = ptr<T>(gamma);
    const T *prm = ptr<T>(rm), *prv = ptr<T>(rv);
    T *pdx = mut<T>(g.dx), *pdg = mut<T>(g.dgamma), *pdb = mut<T>(g.dbeta);
    py::gil_scoped_release release;
    batchnorm_backward_inference<T>(dy.rows, dy.channels, pdy, px, pg, prm, prv,
                                    static_cast<T>(epsilon), pdx, pdg, pdb);
  });
  return g.tuple();
}

}  // namespace

void init_batchnorm(py::module_& m) {
  const double eps = kBatchNormEpsilon, mom = kBatchNormMomentum;
  m.def("batchnorm_forward_training", &forward_training, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::kw_only(), py::arg("epsilon") = eps, py::arg("momentum") = mom,
        py::arg("running_mean") = py::none(), py::arg("running_var") = py::none(),
        py::arg("out") = py::none(), py::arg("activation") = "none",
        py::arg("affine_out") = py::none(),
        R"doc(Training-mode batch normalization over the last axis -> (y, mean, inv_std).

x: (..., C) float32/float64, C-contiguous, at least 2-D; gamma, beta: (C,) or None (1, 0).
mean and the biased variance are taken over all leading axes (two passes, stable);
y = (x - mean) * inv_std * gamma + beta with inv_std = 1 / sqrt(var + epsilon).
running_mean / running_var (both or neither, writeable (C,)) are updated in place,
Keras-style: running = momentum * running + (1 - momentum) * batch_stat, with the
biased batch variance. Defaults are Keras's (epsilon 1e-3, momentum 0.99).
activation ('none', 'relu', 'relu6', 'sigmoid', 'tanh') is applied to y in the same
pass. affine_out (writeable (3, C), optional) receives that pass's constants, y =
act((x - center) * scale + shift) as rows center, scale, shift: the backward can take
them instead of y. The GIL is released.)doc");
  m.def("batchnorm_forward_inference", &forward_inference, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("running_mean"), py::arg("running_var"), py::kw_only(),
        py::arg("epsilon") = eps, py::arg("out") = py::none(),
        R"doc(Inference-mode batch normalization over the last axis -> y.

y = (x - running_mean) / sqrt(running_var + epsilon) * gamma + beta; gamma, beta may be
None (1, 0). `out` (shaped like x) must not overlap any input. The GIL is released.)doc");
  m.def("batchnorm_backward_training", &backward_training, py::arg("dy"), py::arg("x"),
        py::arg("gamma"), py::arg("mean"), py::arg("inv_std"), py::kw_only(),
        py::arg("need_dx") = true, py::arg("need_dgamma") = true, py::arg("need_dbeta") = true,
        py::arg("y") = py::none(), py::arg("activation") = "none",
        py::arg("affine") = py::none(),
        R"doc(Backward of batchnorm_forward_training -> (dx, dgamma, dbeta).

mean and inv_std are the ones the forward returned. Outputs not requested are None and
cost nothing; x, mean and inv_std may be None when neither dx nor dgamma is requested.
gamma None means 1. After a forward with an activation, pass the same activation and
the forward's output y: dy is then the gradient of the activation's output. Or pass the
forward's affine_out as affine instead of y (x required then): y is recomputed from x
with the forward's bits, one stream fewer per pass. The GIL is released.)doc");
  m.def("batchnorm_backward_inference", &backward_inference, py::arg("dy"), py::arg("x"),
        py::arg("gamma"), py::arg("running_mean"), py::arg("running_var"), py::kw_only(),
        py::arg("epsilon") = eps, py::arg("need_dx") = true, py::arg("need_dgamma") = true,
        py::arg("need_dbeta") = true,
        R"doc(Backward of batchnorm_forward_inference (a frozen BN) -> (dx, dgamma, dbeta).

dx = dy * gamma / sqrt(running_var + epsilon) (no batch reduction); dgamma =
sum(dy * x_hat), dbeta = sum(dy) over all leading axes. Outputs not requested are None
and cost nothing; x may be None unless dgamma is requested. The GIL is released.)doc");
}

}  // namespace pyfrozen::python
