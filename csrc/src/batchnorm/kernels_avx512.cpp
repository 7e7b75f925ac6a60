// AVX-512 batchnorm tile loops (built with the AVX-512 flags and -ffp-contract=off): the
// loops of kernels_simd.inc on 512-bit vectors, twice the channels per instruction and
// up to 64 float channels of accumulators in registers. Channels left over after the
// last full vector (an 8-channel layer entirely) go to the AVX2 loops, the activations
// without a vector form to the portable ones; every path gives the same bits.
// Everything stays inside `avx512`; all but the entry points in an anonymous namespace.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "batchnorm/kernels.hpp"
#include "avx512_vec.hpp"

namespace pyfrozen::detail {
namespace avx512 {
namespace {

using i64 = std::int64_t;
using bn::kBlockRows;

template <typename T>
using V = Z<T>;

template <typename T>
BatchNormKernels<T> tail_kernels() {
  if constexpr (std::is_same_v<T, float>) return avx2::batchnorm_kernels_f32();
  else return avx2::batchnorm_kernels_f64();
}

#include "batchnorm/kernels_simd.inc"

}  // namespace

BatchNormKernels<float> batchnorm_kernels_f32() { return table<float>(); }
BatchNormKernels<double> batchnorm_kernels_f64() { return table<double>(); }

}  // namespace avx512

}  // namespace pyfrozen::detail
