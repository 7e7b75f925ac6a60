// Binary cross-entropy on probabilities (Keras's clip to [eps, 1 - eps]) or on logits
// (the stable log-sum-exp form), mean over all elements, gradient in the same pass.
#include <cmath>
#include <limits>

#include "chunked_for.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/loss.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

constexpr i64 kChunk = 8192;
constexpr double kLogCost = 8.0;

// Probabilities: p clipped in T as Keras does; the logs in double. The gradient of the
// clip is 0 where it is active (pred outside [eps, 1 - eps]), as TF's clip_by_value.
template <typename T>
double probs_part(i64 b, i64 e, const T* pred, const T* target, T* grad, double inv_count) {
  const T lo = static_cast<T>(kKerasEpsilon), hi = T(1) - lo;
  double s = 0.0;
  for (i64 i = b; i < e; ++i) {
    const T q = pred[i];
    const bool clipped = q < lo || q > hi;
    const double p = static_cast<double>(q < lo ? lo : (q > hi ? hi : q));
    const double t = static_cast<double>(target[i]);
    s -= t * std::log(p) + (1.0 - t) * std::log(1.0 - p);
    if (grad != nullptr)
      grad[i] = clipped ? T(0) : static_cast<T>((p - t) / (p * (1.0 - p)) * inv_count);
  }
  return s;
}

// Logits: max(x, 0) - x t + log1p(exp(-|x|)) never overflows; sigmoid likewise
// evaluates exp of a non-positive number only.
template <typename T>
double logits_part(i64 b, i64 e, const T* pred, const T* target, T* grad, double inv_count) {
  double s = 0.0;
  for (i64 i = b; i < e; ++i) {
    const double x = static_cast<double>(pred[i]);
    const double t = static_cast<double>(target[i]);
    const double ex = std::exp(-std::fabs(x));  // in (0, 1]
    s += (x > 0.0 ? x : 0.0) - x * t + std::log1p(ex);
    if (grad != nullptr) {
      const double sig = x >= 0.0 ? 1.0 / (1.0 + ex) : ex / (1.0 + ex);
      grad[i] = static_cast<T>((sig - t) * inv_count);
    }
  }
  return s;
}

}  // namespace
}  // namespace detail

template <typename T>
double binary_cross_entropy(std::int64_t count, const T* pred, const T* target,
                            bool from_logits, T* grad) {
  using namespace detail;
  require_non_negative("binary_cross_entropy", "count", count);
  count_kernel("binary_cross_entropy", Pass::forward, count);
  if (grad != nullptr) count_kernel("binary_cross_entropy", Pass::backward_input, count);
  if (count == 0) return std::numeric_limits<double>::quiet_NaN();
  const double inv = 1.0 / static_cast<double>(count);
  const double work = static_cast<double>(count) * kLogCost;
  const double total = chunked_sum(count, kChunk, work, [&](i64 b, i64 e) {
    return from_logits ? logits_part(b, e, pred, target, grad, inv)
                       : probs_part(b, e, pred, target, grad, inv);
  });
  return total * inv;
}

template PYFROZEN_API double binary_cross_entropy<float>(std::int64_t, const float*,
                                                         const float*, bool, float*);
template PYFROZEN_API double binary_cross_entropy<double>(std::int64_t, const double*,
                                                          const double*, bool, double*);

}  // namespace pyfrozen
