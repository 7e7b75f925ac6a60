#pragma once
// Private: the fused epilogue of conv2d_forward, applied to a tile while it is in cache.
#include <algorithm>
#include <cmath>

#include "conv2d/geometry.hpp"

namespace pyfrozen::detail {

template <typename T>
bool has_epilogue(const Conv2dEpilogue<T>& ep) {
  return ep.scale || ep.shift || ep.bias || ep.activation != Activation::none;
}

template <typename T>
T activate(Activation act, T v) {
  switch (act) {
    case Activation::none: return v;
    // Written so that NaN (every comparison false) passes through, as in torch.
    case Activation::relu: return v < T(0) ? T(0) : v;
    case Activation::relu6: return v < T(0) ? T(0) : (v > T(6) ? T(6) : v);
    case Activation::sigmoid: {
      // Both branches exponentiate a non-positive number: no overflow.
      if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
      const T e = std::exp(v);
      return e / (T(1) + e);
    }
    case Activation::tanh: return std::tanh(v);
  }
  return v;
}

/// y[r][o] = act(y[r][o] * scale[o] + shift[o] + bias[o]) for rows x co values, ld apart.
template <typename T>
void apply_epilogue(const Conv2dEpilogue<T>& ep, T* y, i64 rows, i64 co, i64 ld) {
  if (!has_epilogue(ep)) return;
  for (i64 r = 0; r < rows; ++r) {
    T* row = y + r * ld;
    if (ep.scale)
      for (i64 o = 0; o < co; ++o) row[o] *= ep.scale[o];
    if (ep.shift)
      for (i64 o = 0; o < co; ++o) row[o] += ep.shift[o];
    if (ep.bias)
      for (i64 o = 0; o < co; ++o) row[o] += ep.bias[o];
    if (ep.activation != Activation::none)
      for (i64 o = 0; o < co; ++o) row[o] = activate(ep.activation, row[o]);
  }
}

}  // namespace pyfrozen::detail
