// Softmax and log-softmax along the last axis, forward and backward (from the saved
// output). Rows are independent: threads take chunks of rows. Sums run in double.
#include <algorithm>
#include <cmath>

#include "chunked_for.hpp"
#include "pyfrozen/activation.hpp"
#include "pyfrozen/counters.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

constexpr i64 kChunkElements = 8192;

// exp() dominates: weigh it so small batches of long rows still use two threads.
constexpr double kExpCost = 8.0;

template <typename T>
T row_max(const T* x, i64 k) {
  T m = x[0];
  for (i64 j = 1; j < k; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// Calls row_fn(row) for every row, on threads when there is enough work.
template <typename F>
void for_rows(i64 rows, i64 k, double cost, F row_fn) {
  const i64 chunk = std::max<i64>(1, kChunkElements / std::max<i64>(k, 1));
  const double work = static_cast<double>(rows) * static_cast<double>(k) * cost;
  chunked_for(rows, chunk, work, [&](i64, i64 r0, i64 r1) {
    for (i64 r = r0; r < r1; ++r) row_fn(r);
  });
}

void check_sizes(const char* op, i64 rows, i64 k) {
  require_non_negative(op, "rows", rows);
  require_non_negative(op, "classes", k);
}

}  // namespace
}  // namespace detail

template <typename T>
void softmax_forward(std::int64_t rows, std::int64_t classes, const T* x, T* y) {
  using namespace detail;
  check_sizes("softmax_forward", rows, classes);
  count_kernel("softmax", Pass::forward, rows * classes);
  if (classes == 0) return;
  for_rows(rows, classes, kExpCost, [&](i64 r) {
    const T* xr = x + r * classes;
    T* yr = y + r * classes;
    const T m = row_max(xr, classes);
    double sum = 0.0;
    for (i64 j = 0; j < classes; ++j) {
      yr[j] = std::exp(xr[j] - m);
      sum += static_cast<double>(yr[j]);
    }
    const T inv = static_cast<T>(1.0 / sum);
    for (i64 j = 0; j < classes; ++j) yr[j] *= inv;
  });
}

template <typename T>
void log_softmax_forward(std::int64_t rows, std::int64_t classes, const T* x, T* y) {
  using namespace detail;
  check_sizes("log_softmax_forward", rows, classes);
  count_kernel("log_softmax", Pass::forward, rows * classes);
  if (classes == 0) return;
  for_rows(rows, classes, kExpCost, [&](i64 r) {
    const T* xr = x + r * classes;
    T* yr = y + r * classes;
    const T m = row_max(xr, classes);
    double sum = 0.0;
    for (i64 j = 0; j < classes; ++j) sum += static_cast<double>(std::exp(xr[j] - m));
    // x - m is exact-ish and <= 0; log(sum) is in [0, log(classes)]: nothing underflows.
    const T lse = static_cast<T>(std::log(sum));
    for (i64 j = 0; j < classes; ++j) yr[j] = (xr[j] - m) - lse;
  });
}

template <typename T>
void softmax_backward(std::int64_t rows, std::int64_t classes, const T* dy, const T* y, T* dx) {
  using namespace detail;
  check_sizes("softmax_backward", rows, classes);
  count_kernel("softmax", Pass::backward_input, rows * classes);
  if (classes == 0) return;
  for_rows(rows, classes, 1.0, [&](i64 r) {
    const T* dyr = dy + r * classes;
    const T* yr = y + r * classes;
    T* dxr = dx + r * classes;
    double dot = 0.0;
    for (i64 j = 0; j < classes; ++j) dot += static_cast<double>(dyr[j]) * yr[j];
    const T d = static_cast<T>(dot);
    for (i64 j = 0; j < classes; ++j) dxr[j] = yr[j] * (dyr[j] - d);
  });
}

template <typename T>
void log_softmax_backward(std::int64_t rows, std::int64_t classes, const T* dy, const T* y,
                          T* dx) {
  using namespace detail;
  check_sizes("log_softmax_backward", rows, classes);
  count_kernel("log_softmax", Pass::backward_input, rows * classes);
  if (classes == 0) return;
  for_rows(rows, classes, kExpCost, [&](i64 r) {
    const T* dyr = dy + r * classes;
    const T* yr = y + r * classes;
    T* dxr = dx + r * classes;
    double sum = 0.0;
    for (i64 j = 0; j < classes; ++j) sum += static_cast<double>(dyr[j]);
    const T s = static_cast<T>(sum);
    for (i64 j = 0; j < classes; ++j) dxr[j] = dyr[j] - std::exp(yr[j]) * s;
  });
}

#define PYFROZEN_SOFTMAX_INSTANTIATE(T)                                                      \
  template PYFROZEN_API void softmax_forward<T>(std::int64_t, std::int64_t, const T*, T*);   \
  template PYFROZEN_API void log_softmax_forward<T>(std::int64_t, std::int64_t, const T*, T*); \
  template PYFROZEN_API void softmax_backward<T>(std::int64_t, std::int64_t, const T*,       \
                                                 const T*, T*);                              \
  template PYFROZEN_API void log_softmax_backward<T>(std::int64_t, std::int64_t, const T*,   \
                                                     const T*, T*);
PYFROZEN_SOFTMAX_INSTANTIATE(float)
PYFROZEN_SOFTMAX_INSTANTIATE(double)

}  // namespace pyfrozen
