#pragma once
// Private: the direct depthwise kernels (channels in the vector lanes), one table per
// ISA, and the drivers that call them row by row (depthwise.cpp).
#include <cstdint>

#include "conv2d/geometry.hpp"
#include "isa_registry.hpp"

namespace pyfrozen::detail {

/// One row of a depthwise convolution, along the width axis. Every row (input, output,
/// kernel tap) holds `ld` values per pixel; the kernels compute channels [c0, c0 + nc).
struct DwRow {
  i64 x_len, y_len;                // pixels in an input row and in an output row
  i64 kw, stride, dilation, pad;   // along the row (pad: left padding)
  i64 ld;                          // values per pixel, and per tap in w
  i64 c0, nc;                      // channels to compute
  i64 lo, hi;                      // interior pixels of the row computed: see below
};

/// For every kernel, rows[a] (a < kh) is the row that kernel row a meets, or nullptr
/// when it lies in the padding, and w holds kh x kw taps of ld values.
///
/// forward: y[p] = sum_{a, b} rows[a][p * stride + b * dilation - pad] * w[a][b] for
///   p < y_len (taps outside [0, x_len) are zero); [lo, hi) are the p whose taps all lie
///   inside. y is written.
/// backward_input: rows are dy rows; dx[q] = sum_{a, b, p : p * stride + b * dilation -
///   pad == q} rows[a][p] * w[a][b] for q < x_len. With stride 1, [lo, hi) are the q
///   whose taps all lie inside; with stride > 1, lo == hi. dx is written.
/// backward_weight: acc[a][b] += sum_p rows[a][p * stride + b * dilation - pad] * dy[p]
///   over p < y_len; [lo, hi) as for forward. acc is read and written.
template <typename T>
struct DepthwiseKernels {
  void (*forward)(const T* const* rows, i64 kh, const T* w, T* y, const DwRow& r);
  void (*backward_input)(const T* const* rows, i64 kh, const T* w, T* dx, const DwRow& r);
  void (*backward_weight)(const T* const* rows, i64 kh, const T* dy, T* acc, const DwRow& r);
};

// Portable loops: the fallback and the oracle (depthwise_ref.cpp).
DepthwiseKernels<float> depthwise_kernels_ref_f32();
DepthwiseKernels<double> depthwise_kernels_ref_f64();
// AVX2 + FMA (depthwise_avx2.cpp): 3x3 taps in registers, 4 output pixels per step.
DepthwiseKernels<float> depthwise_kernels_avx2_f32();
DepthwiseKernels<double> depthwise_kernels_avx2_f64();
// AVX-512 (depthwise_avx512.cpp): the same kernels on 512-bit vectors (depthwise_simd.inc).
DepthwiseKernels<float> depthwise_kernels_avx512_f32();
DepthwiseKernels<double> depthwise_kernels_avx512_f64();

/// The family's kernels per ISA path (see isa_registry.hpp).
inline constexpr IsaRegistry<DepthwiseKernels> kDepthwiseKernels{
    {depthwise_kernels_ref_f32, depthwise_kernels_avx2_f32, depthwise_kernels_avx512_f32},
    {depthwise_kernels_ref_f64, depthwise_kernels_avx2_f64, depthwise_kernels_avx512_f64},
};

// The drivers: threads over rows, channel-multiplier expansion, epilogue, counters
// already done by the caller. g must be depthwise().
template <typename T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, T* y,
                       const Conv2dEpilogue<T>& ep);
template <typename T>
void depthwise_backward_input(const ConvGeom& g, const T* dy, const T* w, T* dx);
template <typename T>
void depthwise_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw,
                               const std::vector<ChannelRun>& runs);

}  // namespace pyfrozen::detail
