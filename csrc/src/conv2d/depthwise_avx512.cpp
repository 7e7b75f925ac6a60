// AVX-512 depthwise row kernels: the kernels of depthwise_simd.inc on 512-bit vectors (16
// floats or 8 doubles per vector, mask registers for the last channels). Built with the
// AVX-512 flags: everything but the entry points stays in the anonymous namespace,
// inside the named `avx512` namespace that the ISA-isolation test looks for.
#include <immintrin.h>

#include "avx512_vec.hpp"
#include "conv2d/depthwise.hpp"

namespace pyfrozen::detail {
namespace avx512 {
namespace {

template <typename T>
using V = Z<T>;
template <typename T>
using Mask = typename Z<T>::Mask;

#include "conv2d/depthwise_simd.inc"

}  // namespace
}  // namespace avx512

DepthwiseKernels<float> depthwise_kernels_avx512_f32() {
  return {avx512::forward<float>, avx512::backward_input<float>, avx512::backward_weight<float>};
}
DepthwiseKernels<double> depthwise_kernels_avx512_f64() {
  return {avx512::forward<double>, avx512::backward_input<double>,
          avx512::backward_weight<double>};
}

}  // namespace pyfrozen::detail
