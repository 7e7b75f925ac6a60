// AVX2 batchnorm tile loops (built with -mavx2 -mfma -ffp-contract=off): the loops of
// kernels_simd.inc on 256-bit vectors; channels left over after the last full vector,
// and the activations without a vector form (sigmoid, tanh), go to the portable loops.
// Everything stays inside `avx2`; all but the entry points in an anonymous namespace.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "batchnorm/kernels.hpp"
#include "avx2_vec.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

using i64 = std::int64_t;
using bn::kBlockRows;

template <typename T>
BatchNormKernels<T> tail_kernels() {
  if constexpr (std::is_same_v<T, float>) return batchnorm_kernels_ref_f32();
  else return batchnorm_kernels_ref_f64();
}

#include "batchnorm/kernels_simd.inc"

}  // namespace

BatchNormKernels<float> batchnorm_kernels_f32() { return table<float>(); }
BatchNormKernels<double> batchnorm_kernels_f64() { return table<double>(); }

}  // namespace avx2

}  // namespace pyfrozen::detail
