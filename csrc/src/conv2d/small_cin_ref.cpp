// Portable small-patch kernels: plain loops, the fallback and the oracle of the AVX2 ones.
#include "conv2d/small_cin.hpp"

namespace pyfrozen::detail {
namespace {

template <typename T>
void forward_ref(const PatchStrip<T>& s, const T* w, i64 ldw, i64 co, T* y) {
  for (i64 i = 0; i < s.n_pix; ++i) {
    T* out = y + i * co;
    for (i64 o = 0; o < co; ++o) out[o] = T(0);
    const T* wk = w;
    for (i64 a = 0; a < s.n_rows; ++a) {
      const T* in = s.rows[a] + i * s.step;
      for (i64 j = 0; j < s.run_len; ++j, wk += ldw)
        for (i64 o = 0; o < co; ++o) out[o] += in[j] * wk[o];
    }
  }
}

template <typename T>
void backward_weight_ref(const PatchStrip<T>& s, const T* dy, i64 co, T* acc, i64 ldw) {
  for (i64 i = 0; i < s.n_pix; ++i) {
    const T* d = dy + i * co;
    T* ak = acc;
    for (i64 a = 0; a < s.n_rows; ++a) {
      const T* in = s.rows[a] + i * s.step;
      for (i64 j = 0; j < s.run_len; ++j, ak += ldw)
        for (i64 o = 0; o < co; ++o) ak[o] += in[j] * d[o];
    }
  }
}

}  // namespace

SmallCinKernels<float> small_cin_kernels_ref_f32() {
  return {forward_ref<float>, backward_weight_ref<float>};
}
SmallCinKernels<double> small_cin_kernels_ref_f64() {
  return {forward_ref<double>, backward_weight_ref<double>};
}

}  // namespace pyfrozen::detail
