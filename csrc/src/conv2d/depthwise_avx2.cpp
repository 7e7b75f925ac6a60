// AVX2 + FMA depthwise row kernels: the kernels of depthwise_simd.inc on 256-bit vectors
// (8 floats or 4 doubles per vector). Built with -mavx2 -mfma: everything but the entry
// points stays in the anonymous namespace, inside the named `avx2` namespace that the
// ISA-isolation test looks for.
#include <immintrin.h>

#include "avx2_vec.hpp"
#include "conv2d/depthwise.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

template <typename T>
using Mask = __m256i;

#include "conv2d/depthwise_simd.inc"

}  // namespace
}  // namespace avx2

DepthwiseKernels<float> depthwise_kernels_avx2_f32() {
  return {avx2::forward<float>, avx2::backward_input<float>, avx2::backward_weight<float>};
}
DepthwiseKernels<double> depthwise_kernels_avx2_f64() {
  return {avx2::forward<double>, avx2::backward_input<double>, avx2::backward_weight<double>};
}

}  // namespace pyfrozen::detail
