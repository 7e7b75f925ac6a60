// Optimizer updates: in place on the parameter and its state arrays (that is their
// point), so the checks here are about those arrays: writeable, C-contiguous, the
// parameter's shape and dtype, and no two of them (or the gradient) sharing memory.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "pyfrozen/optimizer.hpp"

namespace py = pybind11;

namespace pyfrozen::python {

namespace {

/// The arrays of one update call, checked: param first, then the state arrays that
/// were given; grad and mask are read-only.
struct Operands {
  Dtype dtype;
  py::array param, grad;
  std::vector<std::pair<const char*, py::array>> states;
  py::array mask;  // none() when absent
  const std::uint8_t* mask_ptr = nullptr;

  Operands(const char* op, const py::handle& param_obj, const py::handle& grad_obj)
      : dtype(float_dtype(op, "param", require_array(op, "param", param_obj))),
        param(require_output(op, "param", param_obj, dtype, -1)),
        grad(require_tensor(op, "grad", grad_obj, dtype, -1)) {
    require_shape(op, "grad", grad, shape_of(param), "(param " + shape_str(param) + ")");
  }

  /// A state array, or none (nullptr in C++) when obj is None.
  void state(const char* op, const char* name, const py::handle& obj) {
    if (obj.is_none()) return;
    py::array a = require_output(op, name, obj, dtype, -1);
    require_shape(op, name, a, shape_of(param), "(param " + shape_str(param) + ")");
    states.emplace_back(name, std::move(a));
  }

  void set_mask(const char* op, const py::handle& obj) {
    if (obj.is_none()) return;
    mask = require_array(op, "mask", obj);
    if (!mask.dtype().equal(py::dtype::of<bool>()) &&
        !mask.dtype().equal(py::dtype::of<std::uint8_t>()))
      throw py::type_error(std::string(op) + ": mask must be bool or uint8 (nonzero = frozen), " +
                           "got " + dtype_str(mask) + " " + shape_str(mask));
    require_shape(op, "mask", mask, shape_of(param), "(param " + shape_str(param) + ")");
    if (!(mask.flags() & py::array::c_style))
      throw py::value_error(std::string(op) + ": mask " + shape_str(mask) +
                            " must be C-contiguous; pass np.ascontiguousarray(mask)");
    mask_ptr = static_cast<const std::uint8_t*>(mask.data());
  }

  /// Every written array is disjoint from every other array of the call.
  void check_aliasing(const char* op) const {
    std::vector<std::pair<const char*, const py::array*>> outs = {{"param", &param}};
    for (const auto& s : states) outs.emplace_back(s.first, &s.second);
    for (size_t i = 0; i < outs.size(); ++i) {
      for (size_t j = i + 1; j < outs.size(); ++j)
        require_no_overlap(op, outs[i].first, *outs[i].second, outs[j].first, *outs[j].second);
      require_no_overlap(op, outs[i].first, *outs[i].second, "grad", grad);
      if (mask_ptr != nullptr) require_no_overlap(op, outs[i].first, *outs[i].second, "mask", mask);
    }
  }

  std::int64_t size() const { return static_cast<std::int64_t>(param.size()); }

  template <typename T>
  T* ptr(const char* name) {
    if (std::string(name) == "param") return static_cast<T*>(param.mutable_data());
    for (auto& s : states)
      if (std::string(s.first) == name) return static_cast<T*>(s.second.mutable_data());
    return nullptr;
  }
};

void sgd_py(const py::handle& param, const py::handle& grad, const py::handle& velocity,
            double learning_rate, double momentum, bool nesterov, double weight_decay,
            const py::handle& mask) {
  const char* op = "sgd_update";
  Operands o(op, param, grad);
  o.state(op, "velocity", velocity);
  o.set_mask(op, mask);
  o.check_aliasing(op);
  const SgdOptions opt{learning_rate, momentum, nesterov, weight_decay};
  with_dtype(o.dtype, [&](auto t) {
    using T = decltype(t);
    T* w = o.ptr<T>("param");
    T* v = o.ptr<T>("velocity");
    const T* g = static_cast<const T*>(o.grad.data());
    py::gil_scoped_release release;
    sgd_update<T>(o.size(), w, g, v, opt, o.mask_ptr);
  });
}

void adam_py(const char* op, bool adamw, const py::handle& param, const py::handle& grad,
             const py::handle& m, const py::handle& v, std::int64_t step, double learning_rate,
             double beta_1, double beta_2, double epsilon, double weight_decay,
             const py::handle& mask) {
  Operands o(op, param, grad);
  o.state(op, "m", m);
  o.state(op, "v", v);
  o.set_mask(op, mask);
  o.check_aliasing(op);
  const AdamOptions opt{learning_rate, beta_1, beta_2, epsilon, weight_decay, step};
  with_dtype(o.dtype, [&](auto t) {
    using T = decltype(t);
    T* w = o.ptr<T>("param");
    T* mp = o.ptr<T>("m");
    T* vp = o.ptr<T>("v");
    const T* g = static_cast<const T*>(o.grad.data());
    py::gil_scoped_release release;
    if (adamw)
      adamw_update<T>(o.size(), w, g, mp, vp, opt, o.mask_ptr);
    else
      adam_update<T>(o.size(), w, g, mp, vp, opt, o.mask_ptr);
  });
}

void rmsprop_py(const py::handle& param, const py::handle& grad, const py::handle& velocity,
                double learning_rate, double rho, double momentum,
                const py::handle& momentum_buffer, bool centered, const py::handle& mean_grad,
                double epsilon, double weight_decay, const py::handle& mask) {
  const char* op = "rmsprop_update";
  Operands o(op, param, grad);
  if (velocity.is_none())
    throw py::type_error("rmsprop_update: velocity must be a numpy.ndarray, got NoneType");
  o.state(op, "velocity", velocity);
  o.state(op, "momentum_buffer", momentum_buffer);
  o.state(op, "mean_grad", mean_grad);
  o.set_mask(op, mask);
  o.check_aliasing(op);
  const RmspropOptions opt{learning_rate, rho, momentum, epsilon, centered, weight_decay};
  with_dtype(o.dtype, [&](auto t) {
    using T = decltype(t);
    T* w = o.ptr<T>("param");
    T* vel = o.ptr<T>("velocity");
    T* mom = o.ptr<T>("momentum_buffer");
    T* mg = o.ptr<T>("mean_grad");
    const T* g = static_cast<const T*>(o.grad.data());
    py::gil_scoped_release release;
    rmsprop_update<T>(o.size(), w, g, vel, mom, mg, opt, o.mask_ptr);
  });
}

constexpr const char* kCommon = R"doc(

All arrays share param's shape and dtype (float32 or float64) and are C-contiguous;
param and the state arrays are updated in place (writeable, not overlapping each other
or grad). `mask` (bool or uint8, param's shape, nonzero = frozen): frozen elements of
param and of every state are left bit-identical, whatever grad holds there.
weight_decay is decoupled (Keras 3): param -= param * (learning_rate * weight_decay)
before the gradient step; 0 skips it. The GIL is released.)doc";

// adam_update and adamw_update differ only in name, decoupled decay and its default.
void def_adam(py::module_& m, const char* name, bool decoupled, double default_decay,
              const std::string& doc) {
  m.def(
      name,
      [name, decoupled](const py::handle& param, const py::handle& grad, const py::handle& mm,
                        const py::handle& v, std::int64_t step, double learning_rate,
                        double beta_1, double beta_2, double epsilon, double weight_decay,
                        const py::handle& mask) {
        adam_py(name, decoupled, param, grad, mm, v, step, learning_rate, beta_1, beta_2,
                epsilon, weight_decay, mask);
      },
      py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"), py::kw_only(),
      py::arg("step"), py::arg("learning_rate"), py::arg("beta_1") = 0.9,
      py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7,
      py::arg("weight_decay") = default_decay, py::arg("mask") = py::none(), doc.c_str());
}

}  // namespace

void init_optimizer(py::module_& m) {
  m.def("sgd_update", &sgd_py, py::arg("param"), py::arg("grad"),
        py::arg("velocity") = py::none(), py::kw_only(), py::arg("learning_rate"),
        py::arg("momentum") = 0.0, py::arg("nesterov") = false, py::arg("weight_decay") = 0.0,
        py::arg("mask") = py::none(),
        (std::string("Keras 3 SGD step, in place.\n\nmomentum == 0: param -= learning_rate * "
                     "grad (velocity must be None). momentum > 0: velocity = momentum * "
                     "velocity - learning_rate * grad; param += velocity (nesterov: param += "
                     "momentum * velocity - learning_rate * grad).") +
         kCommon)
            .c_str());
  const std::string adam_doc =
      "Keras 3 Adam step t = `step` (>= 1, counting this one), in place.\n\nm += (grad - m) * "
      "(1 - beta_1); v += (grad**2 - v) * (1 - beta_2); param -= m * alpha / (sqrt(v) + "
      "epsilon) with alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t).";
  def_adam(m, "adam_update", false, 0.0, adam_doc + kCommon);
  def_adam(m, "adamw_update", true, 0.004,
           "Keras 3 AdamW: adam_update with Keras's default weight_decay=0.004, counted as "
           "'adamw'.\n\n" + adam_doc + kCommon);
  m.def("rmsprop_update", &rmsprop_py, py::arg("param"), py::arg("grad"), py::arg("velocity"),
        py::kw_only(), py::arg("learning_rate"), py::arg("rho") = 0.9,
        py::arg("momentum") = 0.0, py::arg("momentum_buffer") = py::none(),
        py::arg("centered") = false, py::arg("mean_grad") = py::none(),
        py::arg("epsilon") = 1e-7, py::arg("weight_decay") = 0.0, py::arg("mask") = py::none(),
        (std::string("Keras 3 RMSprop step, in place.\n\nvelocity = rho * velocity + (1 - rho) "
                     "* grad**2; centered: mean_grad = rho * mean_grad + (1 - rho) * grad, "
                     "d = velocity - mean_grad**2 + epsilon, else d = velocity + epsilon; "
                     "inc = learning_rate * grad / sqrt(d); momentum > 0: momentum_buffer = "
                     "momentum * momentum_buffer + inc, param -= momentum_buffer; else param "
                     "-= inc. momentum_buffer is given iff momentum > 0, mean_grad iff "
                     "centered.") +
         kCommon)
            .c_str());
}

}  // namespace pyfrozen::python
