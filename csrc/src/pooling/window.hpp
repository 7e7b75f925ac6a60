#pragma once
// Private: the real (non-padded) cells of a pooling window, and how pooling kernels
// split their work.
#include <algorithm>
#include <cstdint>

#include "chunked_for.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/pooling.hpp"

namespace pyfrozen::detail {

/// Real cells [h0, h1) x [w0, w1) of the window of output (oh, ow). Never empty: the
/// padding is smaller than the window (checked by pool2d_output).
struct Window {
  std::int64_t h0, h1, w0, w1;
  std::int64_t cells() const { return (h1 - h0) * (w1 - w0); }
};

inline Window window_at(const Pool2d& p, std::int64_t h, std::int64_t w, std::int64_t oh,
                        std::int64_t ow) {
  const std::int64_t hs = oh * p.stride_h - p.pad_top, ws = ow * p.stride_w - p.pad_left;
  return {std::max<std::int64_t>(hs, 0), std::min(hs + p.pool_h, h),
          std::max<std::int64_t>(ws, 0), std::min(ws + p.pool_w, w)};
}

/// Channels per backward task: each task owns whole (image, channel block) slices of
/// dx, so overlapping windows accumulate without races.
inline constexpr std::int64_t kPoolChannelBlock = 64;

/// The frame max and average pooling share: argument checks, the kernel counter, and
/// the split of the work. Forward: threads take output rows; pixel(x_image, window,
/// y_pixel) computes one output pixel's channels.
template <typename T, typename Pixel>
void pool2d_forward(const char* op, const char* kernel, std::int64_t n, std::int64_t h,
                    std::int64_t w, std::int64_t c, const Pool2d& p, const T* x, T* y,
                    Pixel pixel) {
  require_non_negative(op, "batch size", n);
  require_non_negative(op, "channels", c);
  const PoolOutput o = pool2d_output(op, h, w, p);
  const std::int64_t work = n * o.h * o.w * c * p.pool_h * p.pool_w;
  count_kernel(kernel, Pass::forward, work);
  if (n == 0 || c == 0) return;
  chunked_for(n * o.h, 1, static_cast<double>(work), [&](std::int64_t, std::int64_t row,
                                                         std::int64_t) {
    const std::int64_t img = row / o.h, oh = row % o.h;
    for (std::int64_t ow = 0; ow < o.w; ++ow)
      pixel(x + img * h * w * c, window_at(p, h, w, oh, ow),
            y + ((img * o.h + oh) * o.w + ow) * c);
  });
}

/// Backward: a task owns an (image, channel block) slice of dx, zeroes it and calls
/// block(img, c0, cb, output geometry, dx_image) to scatter that slice's gradients.
template <typename T, typename Block>
void pool2d_backward(const char* op, const char* kernel, std::int64_t n, std::int64_t h,
                     std::int64_t w, std::int64_t c, const Pool2d& p, T* dx, Block block) {
  require_non_negative(op, "batch size", n);
  require_non_negative(op, "channels", c);
  const PoolOutput o = pool2d_output(op, h, w, p);
  const std::int64_t work = n * o.h * o.w * c * p.pool_h * p.pool_w;
  count_kernel(kernel, Pass::backward_input, work);
  if (n == 0 || c == 0) return;
  const std::int64_t blocks = (c + kPoolChannelBlock - 1) / kPoolChannelBlock;
  chunked_for(n * blocks, 1, static_cast<double>(work), [&](std::int64_t, std::int64_t task,
                                                            std::int64_t) {
    const std::int64_t img = task / blocks, c0 = task % blocks * kPoolChannelBlock;
    const std::int64_t cb = std::min(kPoolChannelBlock, c - c0);
    T* dxi = dx + img * h * w * c;
    for (std::int64_t cell = 0; cell < h * w; ++cell) std::fill_n(dxi + cell * c + c0, cb, T(0));
    block(img, c0, cb, o, dxi);
  });
}

}  // namespace pyfrozen::detail
