// Global average pooling over H and W, NHWC -> NC, and its backward.
#include <algorithm>
#include <string>

#include "chunked_for.hpp"
#include "pooling/window.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/errors.hpp"
#include "pyfrozen/pooling.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

void check(const char* op, i64 n, i64 h, i64 w, i64 c) {
  require_non_negative(op, "batch size", n);
  require_non_negative(op, "channels", c);
  if (h <= 0 || w <= 0)
    throw ShapeError(std::string(op) + ": the input must have a positive height and width, "
                     "got " + std::to_string(h) + "x" + std::to_string(w));
}

}  // namespace
}  // namespace detail

template <typename T>
void global_avg_pool_forward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                             const T* x, T* y) {
  using namespace detail;
  check("global_avg_pool_forward", n, h, w, c);
  const i64 work = n * h * w * c;
  count_kernel("global_avg_pool", Pass::forward, work);
  if (n == 0 || c == 0) return;
  const i64 blocks = (c + kPoolChannelBlock - 1) / kPoolChannelBlock;
  const double inv = 1.0 / static_cast<double>(h * w);
  chunked_for(n * blocks, 1, static_cast<double>(work), [&](i64, i64 task, i64) {
    const i64 img = task / blocks, c0 = task % blocks * kPoolChannelBlock;
    const i64 cb = std::min(kPoolChannelBlock, c - c0);
    double acc[kPoolChannelBlock] = {};
    const T* xi = x + img * h * w * c + c0;
    for (i64 cell = 0; cell < h * w; ++cell)
      for (i64 j = 0; j < cb; ++j) acc[j] += static_cast<double>(xi[cell * c + j]);
    for (i64 j = 0; j < cb; ++j) y[img * c + c0 + j] = static_cast<T>(acc[j] * inv);
  });
}

template <typename T>
void global_avg_pool_backward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                              const T* dy, T* dx) {
  using namespace detail;
  check("global_avg_pool_backward", n, h, w, c);
  const i64 work = n * h * w * c;
  count_kernel("global_avg_pool", Pass::backward_input, work);
  if (n == 0 || c == 0) return;
  const T cells = static_cast<T>(h * w);
  const i64 rows = n * h * w;  // one row of c values per pixel
  chunked_for(rows, std::max<i64>(1, 16384 / c), static_cast<double>(work),
              [&](i64, i64 r0, i64 r1) {
                for (i64 r = r0; r < r1; ++r) {
                  const T* g = dy + r / (h * w) * c;
                  T* d = dx + r * c;
                  for (i64 j = 0; j < c; ++j) d[j] = g[j] / cells;
                }
              });
}

template PYFROZEN_API void global_avg_pool_forward<float>(std::int64_t, std::int64_t,
                                                          std::int64_t, std::int64_t,
                                                          const float*, float*);
template PYFROZEN_API void global_avg_pool_forward<double>(std::int64_t, std::int64_t,
                                                           std::int64_t, std::int64_t,
                                                           const double*, double*);
template PYFROZEN_API void global_avg_pool_backward<float>(std::int64_t, std::int64_t,
                                                           std::int64_t, std::int64_t,
                                                           const float*, float*);
template PYFROZEN_API void global_avg_pool_backward<double>(std::int64_t, std::int64_t,
                                                            std::int64_t, std::int64_t,
                                                            const double*, double*);

}  // namespace pyfrozen
