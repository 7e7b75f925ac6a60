// Bindings of the losses: each returns (loss as a Python float, gradient or None).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "array_cache.hpp"
#include "arrays.hpp"
#include "pyfrozen/loss.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

using i64 = std::int64_t;

bool is_int64(const py::array& a) { return a.dtype().equal(py::dtype::of<std::int64_t>()); }

// int64 class indices (N,), C-contiguous; another integer dtype is refused, not cast.
py::array require_labels(const char* op, const py::array& labels, const py::array& logits) {
  if (labels.ndim() != 1 || labels.shape(0) != logits.shape(0))
    throw py::value_error(std::string(op) + ": int64 labels must have shape (" +
                          std::to_string(logits.shape(0)) + ",) (a class index per row of "
                          "logits " + shape_str(logits) + "), got " + shape_str(labels));
  if (!(labels.flags() & py::array::c_style))
    throw py::value_error(std::string(op) + ": labels " + shape_str(labels) +
                          " must be C-contiguous; pass np.ascontiguousarray(labels)");
  return labels;
}

py::tuple softmax_cross_entropy_py(const py::handle& logits_obj, const py::handle& labels_obj,
                                   bool need_grad) {
  constexpr const char* op = "softmax_cross_entropy";
  const Dtype dt = float_dtype(op, "logits", require_array(op, "logits", logits_obj));
  const py::array logits = require_tensor(op, "logits", logits_obj, dt, 2);
  const py::array labels = require_array(op, "labels", labels_obj);
  const bool sparse = is_int64(labels);
  if (!sparse && !labels.dtype().equal(logits.dtype()))
    throw py::type_error(std::string(op) + ": labels must be int64 class indices or " +
                         dtype_str(logits) + " probabilities like logits, got " +
                         dtype_str(labels) + " " + shape_str(labels));
  if (sparse) {
    require_labels(op, labels, logits);
  } else {
    require_tensor(op, "labels", labels, dt, 2);
    require_shape(op, "labels", labels, shape_of(logits), "(like logits)");
  }
  const i64 n = logits.shape(0), k = logits.shape(1);
  py::object grad = py::none();
  double loss = 0.0;
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    T* pg = nullptr;
    if (need_grad) {
      py::array g = new_array_like(logits);
      pg = static_cast<T*>(g.mutable_data());
      grad = g;
    }
    const T* px = static_cast<const T*>(logits.data());
    if (sparse) {
      const auto* pl = static_cast<const std::int64_t*>(labels.data());
      py::gil_scoped_release release;
      loss = softmax_cross_entropy<T>(n, k, px, pl, pg);
    } else {
      const T* pt = static_cast<const T*>(labels.data());
      py::gil_scoped_release release;
      loss = softmax_cross_entropy_probs<T>(n, k, px, pt, pg);
    }
  });
  return py::make_tuple(loss, grad);
}

// pred and target: same dtype and shape, any rank; calls kernel(count, pred, target, grad).
template <typename Kernel>
py::tuple elementwise_loss(const char* op, const py::handle& pred_obj,
                           const py::handle& target_obj, bool need_grad, Kernel kernel) {
  const Dtype dt = float_dtype(op, "pred", require_array(op, "pred", pred_obj));
  const py::array pred = require_tensor(op, "pred", pred_obj, dt, -1);
  const py::array target = require_tensor(op, "target", target_obj, dt, -1);
  require_shape(op, "target", target, shape_of(pred), "(like pred)");
  py::object grad = py::none();
  double loss = 0.0;
  with_dtype(dt, [&](auto t) {
    using T = decltype(t);
    T* pg = nullptr;
    if (need_grad) {
      py::array g = new_array_like(pred);
      pg = static_cast<T*>(g.mutable_data());
      grad = g;
    }
    const T* pp = static_cast<const T*>(pred.data());
    const T* pt = static_cast<const T*>(target.data());
    const i64 count = static_cast<i64>(pred.size());
    py::gil_scoped_release release;
    loss = kernel(count, pp, pt, pg);
  });
  return py::make_tuple(loss, grad);
}

}  // namespace

void init_loss(py::module_& m) {
  m.def("softmax_cross_entropy", &softmax_cross_entropy_py, py::arg("logits"),
        py::arg("labels"), py::kw_only(), py::arg("need_grad") = true,
        R"doc((loss, grad) of cross-entropy on softmax(logits), mean over the batch.

logits: (N, K). labels: int64 class indices (N,), or probabilities (N, K) of the
logits' dtype. grad = d loss / d logits (None unless need_grad). A label outside
[0, K) raises ValueError naming it. Large logits (1e4) stay finite.
)doc");
  m.def("binary_cross_entropy",
        [](const py::handle& pred, const py::handle& target, bool from_logits, bool need_grad) {
          return elementwise_loss("binary_cross_entropy", pred, target, need_grad,
                                  [&](i64 n, auto* p, auto* t, auto* g) {
                                    return pyfrozen::binary_cross_entropy(n, p, t, from_logits, g);
                                  });
        },
        py::arg("pred"), py::arg("target"), py::kw_only(), py::arg("from_logits") = false,
        py::arg("need_grad") = true,
        R"doc((loss, grad) of binary cross-entropy, mean over all elements (Keras semantics).

from_logits=False: pred is clipped to [1e-7, 1 - 1e-7] (the clip passes no gradient);
from_logits=True: the stable log-sum-exp form. grad is None unless need_grad.
)doc");
  m.def("mse",
        [](const py::handle& pred, const py::handle& target, bool need_grad) {
          return elementwise_loss("mse", pred, target, need_grad,
                                  [](i64 n, auto* p, auto* t, auto* g) {
                                    return pyfrozen::mse(n, p, t, g);
                                  });
        },
        py::arg("pred"), py::arg("target"), py::kw_only(), py::arg("need_grad") = true,
        "(loss, grad) of the mean squared error over all elements; grad None unless need_grad.");
}

}  // namespace pyfrozen::python
