// 2-D average pooling, NHWC; each window divides by its number of real (non-padded)
// cells (TF/Keras 'same'). Backward: a task owns an (image, channel block) slice of dx.
#include <algorithm>

#include "pooling/window.hpp"
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

}  // namespace
}  // namespace detail

template <typename T>
void avg_pool2d_forward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                        const Pool2d& p, const T* x, T* y) {
  detail::pool2d_forward("avg_pool2d_forward", "avg_pool2d", n, h, w, c, p, x, y,
                         [w, c](const T* xi, const detail::Window& win, T* yp) {
                           detail::forward_pixel(xi, w, c, win, yp);
                         });
}

template <typename T>
void avg_pool2d_backward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                         const Pool2d& p, const T* dy, T* dx) {
  using detail::i64;
  detail::pool2d_backward<T>(
      "avg_pool2d_backward", "avg_pool2d", n, h, w, c, p, dx,
      [&](i64 img, i64 c0, i64 cb, const PoolOutput& o, T* dxi) {
        for (i64 oh = 0; oh < o.h; ++oh)
          for (i64 ow = 0; ow < o.w; ++ow)
            detail::backward_pixel(w, c, c0, cb, detail::window_at(p, h, w, oh, ow),
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
