#pragma once
// Private: the real (non-padded) cells of a pooling window, and how pooling kernels
// split their work.
#include <algorithm>
#include <cstdint>

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

}  // namespace pyfrozen::detail
