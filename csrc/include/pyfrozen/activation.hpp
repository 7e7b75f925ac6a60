#pragma once
// Activations the kernels apply (fused into conv / bias epilogues or standalone), and the
// standalone element-wise kernels: bias + activation, softmax and log-softmax.
#include <cstdint>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Element-wise activation. relu6 is min(max(x, 0), 6) as in Keras / MobileNet.
enum class Activation { none = 0, relu, relu6, sigmoid, tanh };

/// "none", "relu", "relu6", "sigmoid", "tanh".
PYFROZEN_API const char* activation_name(Activation act);

// ---- bias + activation ------------------------------------------------------------------

/// y[r, c] = act(x[r, c] + bias[c]) for a row-major, contiguous rows x channels matrix
/// (an NHWC tensor is rows = N*H*W). bias: `channels` values, or nullptr for no bias.
///
/// - y is only written. y may be x itself (in place: y == x exactly); any other overlap
///   of y with x, and any overlap of y with bias, is not allowed.
/// - sigmoid is 1 / (1 + exp(-v)), tanh is std::tanh; NaN propagates.
/// - Counts ("bias_act", forward, rows * channels). Threads: get_num_threads();
///   ISA: active_isa(). Throws ShapeError for negative sizes.
template <typename T>
PYFROZEN_API void bias_act_forward(std::int64_t rows, std::int64_t channels, const T* x,
                                   const T* bias, Activation act, T* y);

/// Backward of bias_act_forward from its saved OUTPUT y (x is not needed):
/// g = dy * act'(y), with act' read from y: relu: y > 0; relu6: 0 < y < 6;
/// sigmoid: y (1 - y); tanh: 1 - y^2; none: 1. relu and relu6 select dy or 0 (a mask
/// selects, it never multiplies, so NaN in a masked-out dy gives 0, as torch does).
///
/// - dx (rows x channels) = g, or nullptr when not needed.
/// - dbias (channels) = sum over rows of g, or nullptr. Overwritten, not accumulated.
///   Summed in fixed row chunks combined in a fixed order: the result does not depend
///   on the thread count.
/// - Outputs are only written; no output may overlap an input or the other output.
/// - Counts ("bias_act", backward_input, rows * channels) when dx is requested and
///   ("bias_act", backward_bias, rows * channels) when dbias is; nothing when neither is.
template <typename T>
PYFROZEN_API void bias_act_backward(std::int64_t rows, std::int64_t channels, const T* dy,
                                    const T* y, Activation act, T* dx, T* dbias);

// ---- softmax along the last axis ---------------------------------------------------------

/// y[r, :] = softmax(x[r, :]) over the `classes` contiguous values of each row
/// (max subtracted first, so large logits stay finite). y is only written and must not
/// overlap x. Counts ("softmax", forward, rows * classes).
template <typename T>
PYFROZEN_API void softmax_forward(std::int64_t rows, std::int64_t classes, const T* x, T* y);

/// y[r, :] = log_softmax(x[r, :]) = x - max - log(sum(exp(x - max))), computed directly
/// (never log(softmax), which underflows to -inf). No overlap of y with x.
/// Counts ("log_softmax", forward, rows * classes).
template <typename T>
PYFROZEN_API void log_softmax_forward(std::int64_t rows, std::int64_t classes, const T* x,
                                      T* y);

/// dx = y * (dy - sum(dy * y)) per row, from the saved softmax output y. dx is only
/// written and must not overlap dy or y. Counts ("softmax", backward_input, rows * classes).
template <typename T>
PYFROZEN_API void softmax_backward(std::int64_t rows, std::int64_t classes, const T* dy,
                                   const T* y, T* dx);

/// dx = dy - exp(y) * sum(dy) per row, from the saved log-softmax output y. dx is only
/// written and must not overlap dy or y. Counts ("log_softmax", backward_input, ...).
template <typename T>
PYFROZEN_API void log_softmax_backward(std::int64_t rows, std::int64_t classes, const T* dy,
                                       const T* y, T* dx);

#define PYFROZEN_ACTIVATION_EXTERN(T)                                                       \
  extern template void bias_act_forward<T>(std::int64_t, std::int64_t, const T*, const T*,  \
                                           Activation, T*);                                 \
  extern template void bias_act_backward<T>(std::int64_t, std::int64_t, const T*, const T*, \
                                            Activation, T*, T*);                            \
  extern template void softmax_forward<T>(std::int64_t, std::int64_t, const T*, T*);        \
  extern template void log_softmax_forward<T>(std::int64_t, std::int64_t, const T*, T*);    \
  extern template void softmax_backward<T>(std::int64_t, std::int64_t, const T*, const T*,  \
                                           T*);                                             \
  extern template void log_softmax_backward<T>(std::int64_t, std::int64_t, const T*,        \
                                               const T*, T*);
PYFROZEN_ACTIVATION_EXTERN(float)
PYFROZEN_ACTIVATION_EXTERN(double)
#undef PYFROZEN_ACTIVATION_EXTERN

}  // namespace pyfrozen
