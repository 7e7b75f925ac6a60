#pragma once
// Private: the fused epilogue of conv2d_forward, applied to a tile while it is in cache.
#include "conv2d/geometry.hpp"
#include "elementwise/bias_act_kernels.hpp"

namespace pyfrozen::detail {

template <typename T>
bool has_epilogue(const Conv2dEpilogue<T>& ep) {
  return ep.scale || ep.shift || ep.bias || ep.activation != Activation::none;
}

/// y[r][o] = act(y[r][o] * scale[o] + shift[o] + bias[o]) for rows x co contiguous values.
/// Bias and activation go through the active bias_act kernel (vectorized, the activation
/// chosen once per call): a per-element switch here cost 10x the convolution it followed.
template <typename T>
void apply_epilogue(const Conv2dEpilogue<T>& ep, T* y, i64 rows, i64 co) {
  if (!has_epilogue(ep)) return;
  if (ep.scale || ep.shift)
    for (i64 r = 0; r < rows; ++r) {
      T* row = y + r * co;
      if (ep.scale)
        for (i64 o = 0; o < co; ++o) row[o] *= ep.scale[o];
      if (ep.shift)
        for (i64 o = 0; o < co; ++o) row[o] += ep.shift[o];
    }
  if (ep.bias || ep.activation != Activation::none)
    kBiasActKernels.active<T>().forward(rows, co, y, ep.bias, ep.activation, y);
}

}  // namespace pyfrozen::detail
