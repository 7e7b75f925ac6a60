#pragma once
// Losses: the loss value (mean over the batch or over all elements, returned as a
// double) and, optionally, its gradient with respect to the prediction in the same pass.
#include <cstdint>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Categorical cross-entropy of softmax(logits) with integer class labels (Keras's
/// SparseCategoricalCrossentropy(from_logits=True), torch's F.cross_entropy):
///   loss = mean_n [ logsumexp(logits[n, :]) - logits[n, labels[n]] ]
/// logits: n x classes, row-major contiguous; labels: n class indices in [0, classes).
///
/// - grad (n x classes) = (softmax(logits) - onehot(labels)) / n, or nullptr. Only
///   written; must not overlap logits.
/// - The max of each row is subtracted, so logits of +-1e4 give finite results.
/// - n == 0 returns NaN (a mean over nothing).
/// - Counts ("softmax_cross_entropy", forward, n * classes) and, with grad,
///   ("softmax_cross_entropy", backward_input, n * classes).
/// Throws ShapeError for negative sizes, or naming the first label outside
/// [0, classes) with its row and `classes` (nothing is written then).
template <typename T>
PYFROZEN_API double softmax_cross_entropy(std::int64_t n, std::int64_t classes, const T* logits,
                                          const std::int64_t* labels, T* grad);

/// Cross-entropy of softmax(logits) with target probabilities (Keras's
/// CategoricalCrossentropy(from_logits=True), torch's F.cross_entropy with probabilities):
///   loss = mean_n [ -sum_k targets[n, k] * log_softmax(logits[n, :])_k ]
/// targets: n x classes; rows need not sum to 1 (the gradient stays exact):
/// grad = (softmax(logits) * sum_k targets[n, k] - targets) / n, or nullptr.
/// Terms with a zero target contribute 0 even where the log-probability is -inf.
/// grad must not overlap logits or targets. Counts as softmax_cross_entropy above.
template <typename T>
PYFROZEN_API double softmax_cross_entropy_probs(std::int64_t n, std::int64_t classes,
                                                const T* logits, const T* targets, T* grad);

/// Keras's epsilon: probabilities are clipped to [kKerasEpsilon, 1 - kKerasEpsilon].
inline constexpr double kKerasEpsilon = 1e-7;

/// Binary cross-entropy, mean over all `count` elements (Keras semantics):
/// - from_logits == false: p = clip(pred, eps, 1 - eps) with eps = kKerasEpsilon (in T),
///   loss = -mean[t log p + (1 - t) log(1 - p)]; grad = (p - t) / (p (1 - p)) / count
///   where eps <= pred <= 1 - eps, and 0 where the clip is active (as TF's clip gradient).
/// - from_logits == true: loss = mean[max(x, 0) - x t + log1p(exp(-|x|))] (stable for any
///   x); grad = (sigmoid(x) - t) / count.
/// grad (count values) is optional (nullptr), only written, and must not overlap pred or
/// target. count == 0 returns NaN. Counts ("binary_cross_entropy", forward, count) and,
/// with grad, ("binary_cross_entropy", backward_input, count).
template <typename T>
PYFROZEN_API double binary_cross_entropy(std::int64_t count, const T* pred, const T* target,
                                         bool from_logits, T* grad);

/// Mean squared error over all `count` elements: mean[(pred - target)^2];
/// grad = 2 (pred - target) / count, optional (nullptr), no overlap with the inputs.
/// count == 0 returns NaN. Counts ("mse", forward, count) and, with grad,
/// ("mse", backward_input, count).
template <typename T>
PYFROZEN_API double mse(std::int64_t count, const T* pred, const T* target, T* grad);

#define PYFROZEN_LOSS_EXTERN(T)                                                             \
  extern template double softmax_cross_entropy<T>(std::int64_t, std::int64_t, const T*,     \
                                                  const std::int64_t*, T*);                 \
  extern template double softmax_cross_entropy_probs<T>(std::int64_t, std::int64_t,         \
                                                        const T*, const T*, T*);            \
  extern template double binary_cross_entropy<T>(std::int64_t, const T*, const T*, bool, T*); \
  extern template double mse<T>(std::int64_t, const T*, const T*, T*);
PYFROZEN_LOSS_EXTERN(float)
PYFROZEN_LOSS_EXTERN(double)
#undef PYFROZEN_LOSS_EXTERN

}  // namespace pyfrozen
