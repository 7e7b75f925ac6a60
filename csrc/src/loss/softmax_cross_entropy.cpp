// Softmax cross-entropy with integer labels or target probabilities: the loss and the
// gradient with respect to the logits in one pass over each row.
#include <cmath>
#include <limits>
#include <string>

#include "chunked_for.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/errors.hpp"
#include "pyfrozen/loss.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

constexpr i64 kChunkElements = 8192;
constexpr double kExpCost = 8.0;

std::string dims(i64 a, i64 b) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

void check_sizes(const char* op, i64 n, i64 k) {
  require_non_negative(op, "n", n);
  require_non_negative(op, "classes", k);
}

void check_labels(i64 n, i64 k, const i64* labels) {
  for (i64 i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= k)
      throw ShapeError("softmax_cross_entropy: label " + std::to_string(labels[i]) + " at row " +
                       std::to_string(i) + " is out of range for " + std::to_string(k) +
                       " classes (logits " + dims(n, k) + ")");
}

struct RowStats {
  double max;
  double sum;  // of exp(x - max)
};

// Max and sum of exp(x - max); with grad, the exp values are left in g for reuse.
template <typename T>
RowStats row_stats(const T* x, i64 k, T* g) {
  T m = x[0];
  for (i64 j = 1; j < k; ++j) m = x[j] > m ? x[j] : m;
  double sum = 0.0;
  for (i64 j = 0; j < k; ++j) {
    const T e = std::exp(x[j] - m);
    if (g != nullptr) g[j] = e;
    sum += static_cast<double>(e);
  }
  return {static_cast<double>(m), sum};
}

// The per-row losses are summed per chunk of rows, then chunks in order: the loss has
// the same bits for any thread count.
template <typename RowLoss>
double mean_over_rows(i64 n, i64 k, RowLoss row_loss) {
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const i64 chunk = std::max<i64>(1, kChunkElements / std::max<i64>(k, 1));
  const double work = static_cast<double>(n) * static_cast<double>(k) * kExpCost;
  const double total = chunked_sum(n, chunk, work, [&](i64 r0, i64 r1) {
    double s = 0.0;
    for (i64 r = r0; r < r1; ++r) s += row_loss(r);
    return s;
  });
  return total / static_cast<double>(n);
}

void count(i64 n, i64 k, bool grad) {
  count_kernel("softmax_cross_entropy", Pass::forward, n * k);
  if (grad) count_kernel("softmax_cross_entropy", Pass::backward_input, n * k);
}

}  // namespace
}  // namespace detail

template <typename T>
double softmax_cross_entropy(std::int64_t n, std::int64_t classes, const T* logits,
                             const std::int64_t* labels, T* grad) {
  using namespace detail;
  check_sizes("softmax_cross_entropy", n, classes);
  check_labels(n, classes, labels);  // classes == 0 with n > 0 fails here
  count(n, classes, grad != nullptr);
  const double inv_n = 1.0 / static_cast<double>(n);
  return mean_over_rows(n, classes, [&](i64 r) {
    const T* x = logits + r * classes;
    T* g = grad != nullptr ? grad + r * classes : nullptr;
    const RowStats s = row_stats(x, classes, g);
    const i64 label = labels[r];
    if (g != nullptr) {
      const T scale = static_cast<T>(inv_n / s.sum);
      for (i64 j = 0; j < classes; ++j) g[j] *= scale;
      g[label] -= static_cast<T>(inv_n);
    }
    // log(sum) - (x[label] - max): no cancellation against a large max.
    return std::log(s.sum) - (static_cast<double>(x[label]) - s.max);
  });
}

template <typename T>
double softmax_cross_entropy_probs(std::int64_t n, std::int64_t classes, const T* logits,
                                   const T* targets, T* grad) {
  using namespace detail;
  check_sizes("softmax_cross_entropy", n, classes);
  count(n, classes, grad != nullptr);
  const double inv_n = 1.0 / static_cast<double>(n);
  return mean_over_rows(n, classes, [&](i64 r) {
    const T* x = logits + r * classes;
    const T* t = targets + r * classes;
    T* g = grad != nullptr ? grad + r * classes : nullptr;
    if (classes == 0) return 0.0;
    const RowStats s = row_stats(x, classes, g);
    const double lse = std::log(s.sum);
    double loss = 0.0, t_sum = 0.0;
    for (i64 j = 0; j < classes; ++j) {
      if (t[j] == T(0)) continue;  // 0 * log(0) counts as 0
      loss -= static_cast<double>(t[j]) * ((static_cast<double>(x[j]) - s.max) - lse);
      t_sum += static_cast<double>(t[j]);
    }
    if (g != nullptr) {
      const T scale = static_cast<T>(t_sum * inv_n / s.sum);
      const T tn = static_cast<T>(inv_n);
      for (i64 j = 0; j < classes; ++j) g[j] = g[j] * scale - t[j] * tn;
    }
    return loss;
  });
}

template PYFROZEN_API double softmax_cross_entropy<float>(std::int64_t, std::int64_t,
                                                          const float*, const std::int64_t*,
                                                          float*);
template PYFROZEN_API double softmax_cross_entropy<double>(std::int64_t, std::int64_t,
                                                           const double*, const std::int64_t*,
                                                           double*);
template PYFROZEN_API double softmax_cross_entropy_probs<float>(std::int64_t, std::int64_t,
                                                                const float*, const float*,
                                                                float*);
template PYFROZEN_API double softmax_cross_entropy_probs<double>(std::int64_t, std::int64_t,
                                                                 const double*, const double*,
                                                                 double*);

}  // namespace pyfrozen
