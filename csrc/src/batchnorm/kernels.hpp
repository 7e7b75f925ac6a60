#pragma once
// Private: the batchnorm kernels' element loops over one tile, one table per ISA path.
// forward.cpp / backward.cpp cut the work into tiles (common.hpp), run them on the
// threads and merge the partial sums; the loops over a tile's elements are here.
//
// A tile is `rows` rows of `nc` channels in a row-major matrix of `ld` values per row;
// every pointer is already offset to the tile's first row and channel (per-channel
// arrays to its first channel). Sums follow tile_sums' blocking on every path: per
// channel, kBlockRows rows are summed in T in row order, each block total added into
// the double partial (zeroed first). Every path computes each element with the same
// operations in the same order (no FMA contraction), so the paths give the same bits.
#include <cstdint>
#include <type_traits>

#include "isa_registry.hpp"
#include "with_flag.hpp"
#include "pyfrozen/activation.hpp"

namespace pyfrozen::detail {

namespace bn {
// Rows summed in T before the block total is added to the double partial: the
// rounding of a T sum grows with its length, so keep it short (cost: one double
// add per channel every kBlockRows rows).
constexpr std::int64_t kBlockRows = 64;
// Channels per tile at most: the T accumulators of a tile live on its stack (L1-sized),
// and a wide Dense output (few rows, many channels) still splits across threads.
constexpr std::int64_t kChannelBlock = 256;
}  // namespace bn

/// Where the backward kernels take act'(.) from (unused for Activation::none): the
/// forward's output y, or, when y is null, the pre-activation recomputed from x with the
/// forward's own constants, z = (x - center[c]) * scale[c] + shift[c], by the operations
/// of `apply`: act(z) is then the forward's y bit for bit, without y's stream.
template <typename T>
struct ActInput {
  const T* y = nullptr;
  const T* center = nullptr;
  const T* scale = nullptr;
  const T* shift = nullptr;
  /// The same source `o` elements and `c` channels further on (offsets only non-null).
  ActInput at(std::int64_t o, std::int64_t c) const {
    if (y) return {y + o, nullptr, nullptr, nullptr};
    if (center) return {nullptr, center + c, scale + c, shift + c};
    return {};
  }
};

template <typename T>
struct BatchNormKernels {
  using i64 = std::int64_t;
  /// part[c] = sum over rows of x.
  void (*sum)(i64 rows, i64 nc, i64 ld, const T* x, double* part);
  /// p1[c] = sum of d, p2[c] = sum of d * d, with d = x - center[c].
  void (*centered_sums)(i64 rows, i64 nc, i64 ld, const T* x, const T* center, double* p1,
                        double* p2);
  /// y = act((x - center[c]) * scale[c] + shift[c]).
  void (*apply)(i64 rows, i64 nc, i64 ld, const T* x, const T* center, const T* scale,
                const T* shift, Activation act, T* y);
  /// With g = dy * act'(y) (`in` unused for Activation::none): dx = g * k[c] (dx
  /// nullptr: not written), p_dy[c] = sum of g, p_dyx[c] = sum of g * (x - center[c])
  /// (each nullptr: not computed; x is read for p_dyx and for an `in` without y,
  /// center only for p_dyx).
  void (*grad)(i64 rows, i64 nc, i64 ld, const T* dy, ActInput<T> in, Activation act,
               const T* x, const T* center, const T* k, T* dx, double* p_dy, double* p_dyx);
  /// dx = k1[c] * g + k2[c] * (x - mean[c]) + k3[c], g as for grad.
  void (*training_dx)(i64 rows, i64 nc, i64 ld, const T* dy, ActInput<T> in, Activation act,
                      const T* x, const T* mean, const T* k1, const T* k2, const T* k3, T* dx);
};

// Portable loops: the fallback and the oracle (kernels_ref.cpp).
BatchNormKernels<float> batchnorm_kernels_ref_f32();
BatchNormKernels<double> batchnorm_kernels_ref_f64();
// AVX2 (kernels_avx2.cpp): accumulators held in registers across a block's rows. The
// entry points are in `avx2` too: filling a five-pointer table, GCC uses ymm stores.
namespace avx2 {
BatchNormKernels<float> batchnorm_kernels_f32();
BatchNormKernels<double> batchnorm_kernels_f64();
}  // namespace avx2
// AVX-512 (kernels_avx512.cpp): the same loops on 512-bit vectors (kernels_simd.inc).
namespace avx512 {
BatchNormKernels<float> batchnorm_kernels_f32();
BatchNormKernels<double> batchnorm_kernels_f64();
}  // namespace avx512

/// The family's kernels per ISA path (see isa_registry.hpp).
inline constexpr IsaRegistry<BatchNormKernels> kBatchNormKernels{
    {batchnorm_kernels_ref_f32, avx2::batchnorm_kernels_f32, avx512::batchnorm_kernels_f32},
    {batchnorm_kernels_ref_f64, avx2::batchnorm_kernels_f64, avx512::batchnorm_kernels_f64},
};

}  // namespace pyfrozen::detail
