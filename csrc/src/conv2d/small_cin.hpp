#pragma once
// Private: the direct path for convolutions with a small patch (k() = kh * kw * c <= 64,
// e.g. the first layer of an image network, 3x3 over 3 channels). Such a layer is an
// implicit GEMM with a tiny K: im2col + a general GEMM spends more time packing than
// multiplying, so these kernels read each output pixel's patch straight from x as kh
// runs of kw * c contiguous values, against the kernel (K x c_out) padded to whole
// vectors. Border pixels go through a per-row im2col buffer with the same kernels.
#include <vector>

#include "conv2d/geometry.hpp"
#include "isa_registry.hpp"

namespace pyfrozen::detail {

/// A strip of consecutive output pixels of one output row: pixel i's patch is
/// rows[a][i * step + j] for a < n_rows, j < run_len (K = n_rows * run_len, in the
/// (kh, kw, c) order of an HWIO kernel).
template <typename T>
struct PatchStrip {
  const T* const* rows;
  i64 n_rows, run_len, step, n_pix;
};

/// w: K x ldw (ldw = c_out rounded up to whole vectors, zero past c_out).
/// forward: y[i][o] = sum_k patch_i[k] * w[k][o] for i < n_pix, o < co; y (ld co) is
///   written.
/// backward_weight: acc[k][o] += sum_i patch_i[k] * dy[i][o]; dy has ld co, acc has ld
///   ldw; acc is read and written (only o < co).
template <typename T>
struct SmallCinKernels {
  void (*forward)(const PatchStrip<T>& s, const T* w, i64 ldw, i64 co, T* y);
  void (*backward_weight)(const PatchStrip<T>& s, const T* dy, i64 co, T* acc, i64 ldw);
};

SmallCinKernels<float> small_cin_kernels_ref_f32();
SmallCinKernels<double> small_cin_kernels_ref_f64();
SmallCinKernels<float> small_cin_kernels_avx2_f32();
SmallCinKernels<double> small_cin_kernels_avx2_f64();

/// The family's kernels per ISA path (see isa_registry.hpp).
inline constexpr IsaRegistry<SmallCinKernels> kSmallCinKernels{
    {small_cin_kernels_ref_f32, small_cin_kernels_avx2_f32},
    {small_cin_kernels_ref_f64, small_cin_kernels_avx2_f64},
};

/// Whether g takes this path: one group, no dilation, K <= 64, not a pointwise 1x1.
inline bool small_cin(const ConvGeom& g) {
  return g.groups == 1 && g.dh == 1 && g.dw == 1 && g.k() <= 64 && !g.pointwise();
}

template <typename T>
void small_cin_forward(const ConvGeom& g, const T* x, const T* w, T* y,
                       const Conv2dEpilogue<T>& ep);
/// All output channels: dw (K x co) is overwritten.
template <typename T>
void small_cin_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw);

}  // namespace pyfrozen::detail
