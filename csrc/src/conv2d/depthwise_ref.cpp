// Portable depthwise row kernels: plain loops over pixels, taps and channels (the
// channel loop is innermost and contiguous, so compilers vectorise it at the baseline
// ISA). The fallback path and the oracle for the AVX2 kernels.
#include "conv2d/depthwise.hpp"

namespace pyfrozen::detail {
namespace {

template <typename T>
void forward_ref(const T* const* rows, i64 kh, const T* w, T* y, const DwRow& r) {
  for (i64 p = 0; p < r.y_len; ++p) {
    T* out = y + p * r.ld;
    for (i64 c = r.c0; c < r.c0 + r.nc; ++c) out[c] = T(0);
    for (i64 a = 0; a < kh; ++a) {
      if (rows[a] == nullptr) continue;
      for (i64 b = 0; b < r.kw; ++b) {
        const i64 iw = p * r.stride + b * r.dilation - r.pad;
        if (iw < 0 || iw >= r.x_len) continue;
        const T* in = rows[a] + iw * r.ld;
        const T* tap = w + (a * r.kw + b) * r.ld;
        for (i64 c = r.c0; c < r.c0 + r.nc; ++c) out[c] += in[c] * tap[c];
      }
    }
  }
}

template <typename T>
void backward_input_ref(const T* const* rows, i64 kh, const T* w, T* dx, const DwRow& r) {
  for (i64 q = 0; q < r.x_len; ++q) {
    T* out = dx + q * r.ld;
    for (i64 c = r.c0; c < r.c0 + r.nc; ++c) out[c] = T(0);
    for (i64 a = 0; a < kh; ++a) {
      if (rows[a] == nullptr) continue;
      for (i64 b = 0; b < r.kw; ++b) {
        const i64 t = q + r.pad - b * r.dilation;  // = p * stride for the output pixel p
        if (t < 0 || t % r.stride != 0 || t / r.stride >= r.y_len) continue;
        const T* in = rows[a] + (t / r.stride) * r.ld;
        const T* tap = w + (a * r.kw + b) * r.ld;
        for (i64 c = r.c0; c < r.c0 + r.nc; ++c) out[c] += in[c] * tap[c];
      }
    }
  }
}

template <typename T>
void backward_weight_ref(const T* const* rows, i64 kh, const T* dy, T* acc, const DwRow& r) {
  for (i64 a = 0; a < kh; ++a) {
    if (rows[a] == nullptr) continue;
    for (i64 b = 0; b < r.kw; ++b) {
      T* sum = acc + (a * r.kw + b) * r.ld;
      for (i64 p = 0; p < r.y_len; ++p) {
        const i64 iw = p * r.stride + b * r.dilation - r.pad;
        if (iw < 0 || iw >= r.x_len) continue;
        const T* in = rows[a] + iw * r.ld;
        const T* d = dy + p * r.ld;
        for (i64 c = r.c0; c < r.c0 + r.nc; ++c) sum[c] += in[c] * d[c];
      }
    }
  }
}

}  // namespace

DepthwiseKernels<float> depthwise_kernels_ref_f32() {
  return {forward_ref<float>, backward_input_ref<float>, backward_weight_ref<float>};
}
DepthwiseKernels<double> depthwise_kernels_ref_f64() {
  return {forward_ref<double>, backward_input_ref<double>, backward_weight_ref<double>};
}

}  // namespace pyfrozen::detail
