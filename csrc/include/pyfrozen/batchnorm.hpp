#pragma once
// Batch normalization over the channel (last) axis: x is seen as a rows x C matrix,
// rows = N*H*W for an NHWC activation (or N for a Dense output N x C).
#include <cstdint>

#include "pyfrozen/activation.hpp"
#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Keras's BatchNormalization defaults. Keras's momentum is the weight of the OLD
/// running value (torch writes the same rule with momentum 1 - 0.99 = 0.01).
inline constexpr double kBatchNormEpsilon = 1e-3;
inline constexpr double kBatchNormMomentum = 0.99;

// Common contract of the four kernels below:
// - x, y, dy, dx: rows x C, row-major and contiguous (element (r, c) at r * C + c);
//   per-channel arrays (gamma, beta, means, variances, dgamma, dbeta): C contiguous values.
// - gamma == nullptr means gamma = 1 (Keras scale=False); beta == nullptr means beta = 0
//   (Keras center=False).
// - Outputs are only written, never read (they may hold NaN), except the running
//   statistics, which are updated in place. Outputs must not overlap any input or each
//   other (not checked). Nothing is read or written when rows * C == 0, except that the
//   backward reductions then write zeros to dgamma / dbeta.
// - T is float or double. Reductions accumulate per block of rows in T and across
//   blocks in double; the per-thread partials are merged in a fixed order, so results
//   do not depend on the thread count. Threads: get_num_threads(). Safe to call from
//   several threads at once.
// - Each call counts kernel "batchnorm" (counters.hpp) once per pass it computes, with
//   work = rows * C.
// Throws ShapeError for negative sizes, a missing required pointer, epsilon < 0 or not
// finite, momentum outside [0, 1], or rows == 0 in training mode.

/// Training-mode forward: batch statistics, normalization, running-statistic update.
///
/// mean[c] and var[c] = mean over rows of (x - mean)^2 (the biased variance) are computed
/// with two passes over x (never E[x^2] - E[x]^2); then
///   y = (x - mean) * inv_std * gamma + beta,   inv_std = 1 / sqrt(var + epsilon).
/// save_mean / save_inv_std (optional, C values each) receive mean and inv_std for
/// batchnorm_backward_training. running_mean / running_var (both or neither) are updated
/// in place with Keras's rule, using the biased batch variance (Keras moving_variance):
///   running = momentum * running + (1 - momentum) * batch_statistic.
/// `activation` (default none) is applied to y in the same pass: y = act(bn(x)), the
/// bits bias_act_forward gives on bn(x). save_affine (optional, 3C values) receives the
/// per-channel constants of that pass, y = act((x - center) * scale + shift), as
/// center[0..C), scale[C..2C), shift[2C..3C): given to the backward, they let it
/// recompute act'(.) from x instead of reading y. Requires rows >= 1. Counts Pass::forward.
template <typename T>
PYFROZEN_API void batchnorm_forward_training(std::int64_t rows, std::int64_t channels,
                                             const T* x, const T* gamma, const T* beta,
                                             T epsilon, T* y, T* save_mean, T* save_inv_std,
                                             T* running_mean, T* running_var, T momentum,
                                             Activation activation = Activation::none,
                                             T* save_affine = nullptr);

/// Inference-mode forward from the running statistics (no reduction):
///   y = (x - running_mean) / sqrt(running_var + epsilon) * gamma + beta.
/// running_mean and running_var are required. Counts Pass::forward.
template <typename T>
PYFROZEN_API void batchnorm_forward_inference(std::int64_t rows, std::int64_t channels,
                                              const T* x, const T* gamma, const T* beta,
                                              const T* running_mean, const T* running_var,
                                              T epsilon, T* y);

/// Backward of batchnorm_forward_training (batch statistics), given its saved mean and
/// inv_std. With x_hat = (x - mean) * inv_std and sums over rows:
///   dbeta  = sum(dy)                                         (Pass::backward_bias)
///   dgamma = sum(dy * x_hat)                                 (Pass::backward_weight)
///   dx     = gamma * inv_std / rows * (rows * dy - dbeta - x_hat * dgamma)
///                                                            (Pass::backward_input)
/// Each of dx, dgamma, dbeta is optional (nullptr: not computed, no work for it, no
/// count). dy is required when any output is requested; x, save_mean and save_inv_std
/// only when dx or dgamma is (they may be nullptr otherwise); gamma only matters for dx.
/// One reduction pass over dy (and x), plus one pass writing dx when requested.
/// When the forward ran with an `activation`, pass it and the forward's output y (rows x
/// C): dy is the gradient of act(bn(x)), and every formula above reads dy * act'(y)
/// (bias_act_backward's g, never written out) in its place. Or pass the forward's
/// save_affine instead of y (x required then): y is recomputed from x by the forward's
/// own operations, the same bits, so each pass reads one stream fewer (y may be null).
template <typename T>
PYFROZEN_API void batchnorm_backward_training(std::int64_t rows, std::int64_t channels,
                                              const T* dy, const T* x, const T* gamma,
                                              const T* save_mean, const T* save_inv_std,
                                              T* dx, T* dgamma, T* dbeta, const T* y = nullptr,
                                              Activation activation = Activation::none,
                                              const T* save_affine = nullptr);

/// Backward of batchnorm_forward_inference (what a frozen BatchNormalization layer
/// runs in training): the running statistics are constants, so dx has no batch
/// reduction. With inv_std = 1 / sqrt(running_var + epsilon):
///   dx     = dy * gamma * inv_std                            (Pass::backward_input)
///   dgamma = sum(dy * (x - running_mean) * inv_std)          (Pass::backward_weight)
///   dbeta  = sum(dy)                                         (Pass::backward_bias)
/// Each output is optional (nullptr: not computed, no count). dy is required when any
/// output is requested; x and running_mean only when dgamma is; running_var when dx or
/// dgamma is. A single pass over dy (and x when dgamma is requested).
template <typename T>
PYFROZEN_API void batchnorm_backward_inference(std::int64_t rows, std::int64_t channels,
                                               const T* dy, const T* x, const T* gamma,
                                               const T* running_mean, const T* running_var,
                                               T epsilon, T* dx, T* dgamma, T* dbeta);

extern template void batchnorm_forward_training<float>(std::int64_t, std::int64_t,
                                                       const float*, const float*,
                                                       const float*, float, float*, float*,
                                                       float*, float*, float*, float,
                                                       Activation, float*);
extern template void batchnorm_forward_training<double>(std::int64_t, std::int64_t,
                                                        const double*, const double*,
                                                        const double*, double, double*,
                                                        double*, double*, double*, double*,
                                                        double, Activation, double*);
extern template void batchnorm_forward_inference<float>(std::int64_t, std::int64_t,
                                                        const float*, const float*,
                                                        const float*, const float*,
                                                        const float*, float, float*);
extern template void batchnorm_forward_inference<double>(std::int64_t, std::int64_t,
                                                         const double*, const double*,
                                                         const double*, const double*,
                                                         const double*, double, double*);
extern template void batchnorm_backward_training<float>(std::int64_t, std::int64_t,
                                                        const float*, const float*,
                                                        const float*, const float*,
                                                        const float*, float*, float*,
                                                        float*, const float*, Activation,
                                                        const float*);
extern template void batchnorm_backward_training<double>(std::int64_t, std::int64_t,
                                                         const double*, const double*,
                                                         const double*, const double*,
                                                         const double*, double*, double*,
                                                         double*, const double*, Activation,
                                                         const double*);
extern template void batchnorm_backward_inference<float>(std::int64_t, std::int64_t,
                                                         const float*, const float*,
                                                         const float*, const float*,
                                                         const float*, float, float*, float*,
                                                         float*);
extern template void batchnorm_backward_inference<double>(std::int64_t, std::int64_t,
                                                          const double*, const double*,
                                                          const double*, const double*,
                                                          const double*, double, double*,
                                                          double*, double*);

}  // namespace pyfrozen
