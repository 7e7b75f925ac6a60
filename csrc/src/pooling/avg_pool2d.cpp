// 2-D average pooling, NHWC; each window divides by its number of real (non-padded)
// cells (TF/Keras 'same'). Backward: a task owns an (image, channel block) slice of dx.
#include <algorithm>

#include "chunked_for.hpp"
#include "pooling/window.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/pooling.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

template <typename T>
void forward_pixel(const T* x, i64 w, i64 c, const Window& win, T* y) {
  std::fill_n(y, c, T(0));
  for (i64 ih = win.h0; ih < win.h1; ++ih)
    for (i64 iw = win.w0; iw < win.w1; ++iw) {
      const T* xc = x + (ih * w + iw) * c;
      for (i64 j = 0; j < c; ++j) y[j] += xc[j];
    }
  const T cells = static_cast<T>(win.cells());
  for (i64 j = 0; j < c; ++j) y[j] /= cells;
}

template <typename T>
void backward_pixel(i64 w, i64 c, i64 c0, i64 cb, const Window& win, const T* dy, T* dx) {
  T g[kPoolChannelBlock];
  const T cells = static_cast<T>(win.cells());
  for (i64 j = 0; j < cb; ++j) g[j] = dy[c0 + j] / cells;
  for (i64 ih = win.h0; ih < win.h1; ++ih)
    for (i64 iw = win.w0; iw < win.w1; ++iw) {
      T* d = dx + (ih * w + iw) * c + c0;
      for (i64 j = 0; j < cb; ++j) d[j] += g[j];
    }
}

void check(const char* op, i64 n, i64 c) {
  require_non_negative(op, "batch size", n);
  require_non_negative(op, "channels", c);
}

}  // namespace
}  // namespace detail

template <typename T>
void avg_pool2d_forward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                        const Pool2d& p, const T* x, T* y) {
  using namespace detail;
  check("avg_pool2d_forward", n, c);
  const PoolOutput o = pool2d_output("avg_pool2d_forward", h, w, p);
  const i64 work = n * o.h * o.w * c * p.pool_h * p.pool_w;
  count_kernel("avg_pool2d", Pass::forward, work);
  if (n == 0 || c == 0) return;
  chunked_for(n * o.h, 1, static_cast<double>(work), [&](i64, i64 row, i64) {
    const i64 img = row / o.h, oh = row % o.h;
    for (i64 ow = 0; ow < o.w; ++ow)
      forward_pixel(x + img * h * w * c, w, c, window_at(p, h, w, oh, ow),
                    y + ((img * o.h + oh) * o.w + ow) * c);
  });
}

template <typename T>
void avg_pool2d_backward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                         const Pool2d& p, const T* dy, T* dx) {
  using namespace detail;
  check("avg_pool2d_backward", n, c);
  const PoolOutput o = pool2d_output("avg_pool2d_backward", h, w, p);
  const i64 work = n * o.h * o.w * c * p.pool_h * p.pool_w;
  count_kernel("avg_pool2d", Pass::backward_input, work);
  if (n == 0 || c == 0) return;
  const i64 blocks = (c + kPoolChannelBlock - 1) / kPoolChannelBlock;
  chunked_for(n * blocks, 1, static_cast<double>(work), [&](i64, i64 task, i64) {
    const i64 img = task / blocks, c0 = task % blocks * kPoolChannelBlock;
    const i64 cb = std::min(kPoolChannelBlock, c - c0);
    T* dxi = dx + img * h * w * c;
    for (i64 cell = 0; cell < h * w; ++cell) std::fill_n(dxi + cell * c + c0, cb, T(0));
    for (i64 oh = 0; oh < o.h; ++oh)
      for (i64 ow = 0; ow < o.w; ++ow)
        backward_pixel(w, c, c0, cb, window_at(p, h, w, oh, ow),
                       dy + ((img * o.h + oh) * o.w + ow) * c, dxi);
  });
}

template PYFROZEN_API void avg_pool2d_forward<float>(std::int64_t, std::int64_t, std::int64_t,
                                                     std::int64_t, const Pool2d&, const float*,
                                                     float*);
template PYFROZEN_API void avg_pool2d_forward<double>(std::int64_t, std::int64_t, std::int64_t,
                                                      std::int64_t, const Pool2d&,
                                                      const double*, double*);
template PYFROZEN_API void avg_pool2d_backward<float>(std::int64_t, std::int64_t, std::int64_t,
                                                      std::int64_t, const Pool2d&, const float*,
                                                      float*);
template PYFROZEN_API void avg_pool2d_backward<double>(std::int64_t, std::int64_t, std::int64_t,
                                                       std::int64_t, const Pool2d&,
                                                       const double*, double*);

}  // namespace pyfrozen
