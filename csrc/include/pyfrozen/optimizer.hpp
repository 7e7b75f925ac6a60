#pragma once
// Optimizer updates (Keras 3 semantics), in place, one pass over memory, with an
// optional element mask for frozen elements.
#include <cstdint>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

// Common contract of every update below:
//
// - `param` (the weights) and every state array hold `n` contiguous elements and are
//   updated IN PLACE; `grad` holds n elements and is only read. None of the arrays may
//   overlap another (ShapeError otherwise); `mask` is only read.
// - `mask` (optional, nullptr = none): n bytes, nonzero = frozen. A frozen element of
//   `param` and of every state array is left exactly unchanged, bit for bit, whatever
//   the gradient holds there (NaN, Inf, -0.0) and under weight decay: masks select,
//   they never multiply. Trainable elements get bit-identically what the unmasked
//   update gives them.
// - Weight decay is decoupled as in Keras 3 (and torch's AdamW): first
//   w = w - w * c with c = learning_rate * weight_decay (computed in double, rounded to
//   T), then the gradient step with the unchanged gradient, in the same pass. c == 0
//   (weight_decay == 0, or learning_rate == 0) skips that line entirely, so -0.0, Inf
//   and NaN weights are not touched by it (Keras would compute w - w * 0).
// - Both ISA paths compute the same operations in the same order without FMA, so the
//   generic and AVX2 paths give bit-identical results.
// - Threads: get_num_threads() above ~32K elements; results do not depend on the
//   thread count (every element is computed on its own).
// - Counters: count_kernel(name, Pass::update, n) once per call; the work is all n
//   elements, frozen ones included (the pass streams over all of them; the AVX2 path
//   skips vectors whose lanes are all frozen, without loading or storing them).
// - Hyper-parameters are checked before anything is written: std::invalid_argument
//   (ValueError in Python) names the op and the bad value.

/// Keras 3 SGD. Without momentum: w -= learning_rate * g (no state; `velocity` must
/// be nullptr). With momentum in (0, 1): v = momentum * v - learning_rate * g, then
/// w += v, or with nesterov w += momentum * v - learning_rate * g (v already updated).
/// Torch's buffer b relates as v = -learning_rate * b for a constant learning rate.
struct SgdOptions {
  double learning_rate = 0.01;  // finite, >= 0
  double momentum = 0.0;        // [0, 1)
  bool nesterov = false;        // only with momentum > 0
  double weight_decay = 0.0;    // finite, >= 0
};

/// Keras 3 Adam / AdamW at step t = `step` >= 1 (the count including this update):
///   m += (g - m) * (1 - beta_1);  v += (g * g - v) * (1 - beta_2)
///   w -= (m * alpha) / (sqrt(v) + epsilon),
///   alpha = learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t)  (computed in double)
/// Keras adds epsilon to sqrt(v), not to the bias-corrected sqrt(v_hat) as torch does:
/// torch with eps_torch = epsilon / sqrt(1 - beta_2^t) is the same formula.
struct AdamOptions {
  double learning_rate = 0.001;  // finite, >= 0
  double beta_1 = 0.9;           // [0, 1)
  double beta_2 = 0.999;         // [0, 1)
  double epsilon = 1e-7;         // finite, >= 0
  double weight_decay = 0.0;     // finite, >= 0
  std::int64_t step = 1;         // >= 1
};

/// Keras 3 RMSprop:
///   v = rho * v + (1 - rho) * g^2
///   centered: mg = rho * mg + (1 - rho) * g;  d = v - mg^2 + epsilon,  else d = v + epsilon
///   inc = learning_rate * g / sqrt(d)      (epsilon inside the root, unlike torch)
///   momentum > 0: b = momentum * b + inc; w -= b,   else w -= inc
struct RmspropOptions {
  double learning_rate = 0.001;  // finite, >= 0
  double rho = 0.9;              // [0, 1)
  double momentum = 0.0;         // [0, 1)
  double epsilon = 1e-7;         // finite, >= 0
  bool centered = false;
  double weight_decay = 0.0;  // finite, >= 0
};

/// SGD update of n elements. `velocity`: n elements iff opt.momentum > 0, else nullptr.
/// Counter "sgd". Throws std::invalid_argument for bad options or a velocity that does
/// not match the momentum setting, ShapeError for n < 0 or overlapping arrays.
template <typename T>
PYFROZEN_API void sgd_update(std::int64_t n, T* param, const T* grad, T* velocity,
                             const SgdOptions& opt, const std::uint8_t* mask = nullptr);

/// Adam update of n elements; m and v (first and second moments, n elements each) are
/// required. Counter "adam".
template <typename T>
PYFROZEN_API void adam_update(std::int64_t n, T* param, const T* grad, T* m, T* v,
                              const AdamOptions& opt, const std::uint8_t* mask = nullptr);

/// The same update as adam_update (Keras 3's AdamW is Adam with decoupled weight decay,
/// which adam_update applies too), counted as "adamw". Keras's default weight_decay
/// for AdamW is 0.004; the caller passes it.
template <typename T>
PYFROZEN_API void adamw_update(std::int64_t n, T* param, const T* grad, T* m, T* v,
                               const AdamOptions& opt, const std::uint8_t* mask = nullptr);

/// RMSprop update of n elements. `velocity` (the mean square) is required;
/// `momentum_buffer` iff opt.momentum > 0 and `mean_grad` iff opt.centered, else
/// nullptr. Counter "rmsprop".
template <typename T>
PYFROZEN_API void rmsprop_update(std::int64_t n, T* param, const T* grad, T* velocity,
                                 T* momentum_buffer, T* mean_grad, const RmspropOptions& opt,
                                 const std::uint8_t* mask = nullptr);

#define PYFROZEN_OPTIMIZER_EXTERN(T)                                                       \
  extern template void sgd_update<T>(std::int64_t, T*, const T*, T*, const SgdOptions&,   \
                                     const std::uint8_t*);                                \
  extern template void adam_update<T>(std::int64_t, T*, const T*, T*, T*,                 \
                                      const AdamOptions&, const std::uint8_t*);           \
  extern template void adamw_update<T>(std::int64_t, T*, const T*, T*, T*,                \
                                       const AdamOptions&, const std::uint8_t*);          \
  extern template void rmsprop_update<T>(std::int64_t, T*, const T*, T*, T*, T*,          \
                                         const RmspropOptions&, const std::uint8_t*);
PYFROZEN_OPTIMIZER_EXTERN(float)
PYFROZEN_OPTIMIZER_EXTERN(double)
#undef PYFROZEN_OPTIMIZER_EXTERN

}  // namespace pyfrozen
