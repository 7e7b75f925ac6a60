// 2-D max pooling, NHWC. Forward: threads take output rows. Backward recomputes each
// window's argmax from x (no saved indices) and scatters dy there; a task owns an
// (image, channel block) slice of dx, so overlapping windows accumulate race-free.
#include <algorithm>
#include <type_traits>

#include "pooling/window.hpp"
#include "pyfrozen/pooling.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

// Replace the running max when v is larger, or NaN (the first NaN wins and stays).
// Bitwise & and |, not && and ||: no short-circuit branches, so loops over it vectorise.
template <typename T>
bool takes_over(T v, T best) {
  return (best == best) & ((v > best) | (v != v));
}

template <typename T>
void forward_pixel(const T* x, i64 w, i64 c, const Window& win, T* y) {
  const T* first = x + (win.h0 * w + win.w0) * c;
  std::copy(first, first + c, y);
  for (i64 ih = win.h0; ih < win.h1; ++ih)
    for (i64 iw = win.w0; iw < win.w1; ++iw) {
      const T* xc = x + (ih * w + iw) * c;
      for (i64 j = 0; j < c; ++j) y[j] = takes_over(xc[j], y[j]) ? xc[j] : y[j];
    }
}

// One window, channels [c0, c0 + cb): dx at the argmax += dy. The argmax is kept as the
// cell's pixel index in an integer as wide as T (Idx), so the compare-and-select loop
// vectorises (a coin-toss branch per element was ~10x slower).
template <typename T, typename Idx>
void backward_pixel(const T* x, i64 w, i64 c, i64 c0, i64 cb, const Window& win, const T* dy,
                    T* dx) {
  T best[kPoolChannelBlock];
  Idx arg[kPoolChannelBlock];
  const T* first = x + (win.h0 * w + win.w0) * c + c0;
  for (i64 j = 0; j < cb; ++j) {
    best[j] = first[j];
    arg[j] = static_cast<Idx>(win.h0 * w + win.w0);
  }
  for (i64 ih = win.h0; ih < win.h1; ++ih)
    for (i64 iw = win.w0; iw < win.w1; ++iw) {
      const Idx pixel = static_cast<Idx>(ih * w + iw);
      const T* xc = x + (ih * w + iw) * c + c0;
      for (i64 j = 0; j < cb; ++j) {
        const bool take = takes_over(xc[j], best[j]);
        best[j] = take ? xc[j] : best[j];
        arg[j] = take ? pixel : arg[j];
      }
    }
  for (i64 j = 0; j < cb; ++j) dx[static_cast<i64>(arg[j]) * c + c0 + j] += dy[c0 + j];
}

// Pixel indices fit in 32 bits for any realistic image; 64 bits otherwise.
template <typename T>
using NarrowIdx = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;

template <typename T>
void backward_image(const T* x, i64 h, i64 w, i64 c, i64 c0, i64 cb, const Pool2d& p,
                    const PoolOutput& o, const T* dy, T* dx) {
  const bool narrow = h * w < (i64(1) << 31);
  for (i64 oh = 0; oh < o.h; ++oh)
    for (i64 ow = 0; ow < o.w; ++ow) {
      const Window win = window_at(p, h, w, oh, ow);
      const T* d = dy + (oh * o.w + ow) * c;
      if (narrow) backward_pixel<T, NarrowIdx<T>>(x, w, c, c0, cb, win, d, dx);
      else backward_pixel<T, i64>(x, w, c, c0, cb, win, d, dx);
    }
}

}  // namespace
}  // namespace detail

template <typename T>
void max_pool2d_forward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                        const Pool2d& p, const T* x, T* y) {
  detail::pool2d_forward("max_pool2d_forward", "max_pool2d", n, h, w, c, p, x, y,
                         [w, c](const T* xi, const detail::Window& win, T* yp) {
                           detail::forward_pixel(xi, w, c, win, yp);
                         });
}

template <typename T>
void max_pool2d_backward(std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                         const Pool2d& p, const T* x, const T* dy, T* dx) {
  using detail::i64;
  detail::pool2d_backward<T>(
      "max_pool2d_backward", "max_pool2d", n, h, w, c, p, dx,
      [&](i64 img, i64 c0, i64 cb, const PoolOutput& o, T* dxi) {
        detail::backward_image(x + img * h * w * c, h, w, c, c0, cb, p, o,
                               dy + img * o.h * o.w * c, dxi);
      });
}

template PYFROZEN_API void max_pool2d_forward<float>(std::int64_t, std::int64_t, std::int64_t,
                                                     std::int64_t, const Pool2d&, const float*,
                                                     float*);
template PYFROZEN_API void max_pool2d_forward<double>(std::int64_t, std::int64_t, std::int64_t,
                                                      std::int64_t, const Pool2d&,
                                                      const double*, double*);
template PYFROZEN_API void max_pool2d_backward<float>(std::int64_t, std::int64_t, std::int64_t,
                                                      std::int64_t, const Pool2d&, const float*,
                                                      const float*, float*);
template PYFROZEN_API void max_pool2d_backward<double>(std::int64_t, std::int64_t, std::int64_t,
                                                       std::int64_t, const Pool2d&,
                                                       const double*, const double*, double*);

}  // namespace pyfrozen
