// AVX2 + FMA small-patch kernels (see small_cin.hpp). Output channels sit in the vector
// lanes, up to four vectors per block; the patch values are broadcast from x.
// forward: P output pixels x NV channel vectors of accumulators (P * NV <= 12), one
//   kernel row (NV vectors) loaded per patch element and reused by the P pixels.
// backward_weight: KB patch elements x NV channel vectors of dw in registers while a
//   strip of pixels streams by (one dy load per vector, one broadcast per element).
// Built with -mavx2 -mfma: everything but the entry points stays in the anonymous
// namespace, inside the named `avx2` namespace that the ISA-isolation test looks for.
#include <immintrin.h>

#include <algorithm>

#include "avx2_vec.hpp"
#include "conv2d/small_cin.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

// Pixels [i0, i0 + P) x channels [c0, c0 + NV * W) of y; channels past co are not stored.
template <typename T, int NV, int P>
void forward_block(const PatchStrip<T>& s, i64 i0, const T* w, i64 ldw, i64 c0, i64 co, T* y) {
  using R = typename V<T>::R;
  constexpr int W = V<T>::W;
  R acc[P][NV];
  #pragma GCC unroll 12
  for (int p = 0; p < P; ++p)
    #pragma GCC unroll 12
    for (int v = 0; v < NV; ++v) acc[p][v] = V<T>::zero();
  const T* wk = w + c0;
  for (i64 a = 0; a < s.n_rows; ++a) {
    const T* in = s.rows[a] + i0 * s.step;
    for (i64 j = 0; j < s.run_len; ++j, wk += ldw) {
      R wv[NV];
      #pragma GCC unroll 12
      for (int v = 0; v < NV; ++v) wv[v] = V<T>::load(wk + v * W);
      #pragma GCC unroll 12
      for (int p = 0; p < P; ++p) {
        const R b = V<T>::bcast(in + p * s.step + j);
        #pragma GCC unroll 12
        for (int v = 0; v < NV; ++v) acc[p][v] = V<T>::fma(b, wv[v], acc[p][v]);
      }
    }
  }
  #pragma GCC unroll 12
  for (int p = 0; p < P; ++p) {
    T* out = y + (i0 + p) * co + c0;
    #pragma GCC unroll 12
    for (int v = 0; v < NV; ++v) {
      const i64 left = co - c0 - v * W;
      if (left >= W) V<T>::store(out + v * W, acc[p][v]);
      else V<T>::template store<true>(out + v * W, V<T>::mask(left), acc[p][v]);
    }
  }
}

template <typename T, int NV>
void forward_cols(const PatchStrip<T>& s, const T* w, i64 ldw, i64 c0, i64 co, T* y) {
  constexpr int P = 12 / NV;
  i64 i = 0;
  for (; i + P <= s.n_pix; i += P) forward_block<T, NV, P>(s, i, w, ldw, c0, co, y);
  for (; i < s.n_pix; ++i) forward_block<T, NV, 1>(s, i, w, ldw, c0, co, y);
}

template <typename T>
void forward(const PatchStrip<T>& s, const T* w, i64 ldw, i64 co, T* y) {
  constexpr int W = V<T>::W;
  for (i64 c0 = 0; c0 < co; c0 += 4 * W) {
    switch (std::min<i64>(4, (co - c0 + W - 1) / W)) {
      case 4: forward_cols<T, 4>(s, w, ldw, c0, co, y); break;
      case 3: forward_cols<T, 3>(s, w, ldw, c0, co, y); break;
      case 2: forward_cols<T, 2>(s, w, ldw, c0, co, y); break;
      default: forward_cols<T, 1>(s, w, ldw, c0, co, y); break;
    }
  }
}

// acc rows k[0..KB) x channels [c0, c0 + NV * W) += sum_i patch_i[k] * dy[i]; px[kk]
// points at patch element kk of pixel 0. With Masked, the last vector of dy is partial.
template <typename T, int NV, int KB, bool Masked>
void weight_block(const T* const* px, i64 step, i64 n_pix, const T* dy, i64 co, i64 c0,
                  T* acc, i64 ldw) {
  using R = typename V<T>::R;
  constexpr int W = V<T>::W;
  const __m256i m = V<T>::mask(co - c0 - (NV - 1) * W);
  R sum[KB][NV];
  #pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk)
    #pragma GCC unroll 12
    for (int v = 0; v < NV; ++v) sum[kk][v] = V<T>::load(acc + kk * ldw + c0 + v * W);
  const T* d = dy + c0;
  for (i64 i = 0; i < n_pix; ++i, d += co) {
    R dv[NV];
    #pragma GCC unroll 12
    for (int v = 0; v < NV; ++v)
      dv[v] = (Masked && v == NV - 1) ? V<T>::template load<true>(d + v * W, m) : V<T>::load(d + v * W);
    #pragma GCC unroll 12
    for (int kk = 0; kk < KB; ++kk) {
      const R b = V<T>::bcast(px[kk] + i * step);
      #pragma GCC unroll 12
      for (int v = 0; v < NV; ++v) sum[kk][v] = V<T>::fma(b, dv[v], sum[kk][v]);
    }
  }
  #pragma GCC unroll 12
  for (int kk = 0; kk < KB; ++kk)
    #pragma GCC unroll 12
    for (int v = 0; v < NV; ++v) V<T>::store(acc + kk * ldw + c0 + v * W, sum[kk][v]);
}

template <typename T, int NV, bool Masked>
void weight_cols(const T* const* px, i64 k, const PatchStrip<T>& s, const T* dy, i64 co,
                 i64 c0, T* acc, i64 ldw) {
  constexpr int KB = 12 / NV;
  i64 kk = 0;
  for (; kk + KB <= k; kk += KB)
    weight_block<T, NV, KB, Masked>(px + kk, s.step, s.n_pix, dy, co, c0, acc + kk * ldw, ldw);
  for (; kk < k; ++kk)
    weight_block<T, NV, 1, Masked>(px + kk, s.step, s.n_pix, dy, co, c0, acc + kk * ldw, ldw);
}

template <typename T, int NV>
void weight_cols_any(const T* const* px, i64 k, const PatchStrip<T>& s, const T* dy, i64 co,
                     i64 c0, T* acc, i64 ldw) {
  if (c0 + NV * V<T>::W <= co) weight_cols<T, NV, false>(px, k, s, dy, co, c0, acc, ldw);
  else weight_cols<T, NV, true>(px, k, s, dy, co, c0, acc, ldw);
}

template <typename T>
void backward_weight(const PatchStrip<T>& s, const T* dy, i64 co, T* acc, i64 ldw) {
  constexpr int W = V<T>::W;
  const T* px[64];  // K <= 64: patch element k of pixel 0
  const i64 k = s.n_rows * s.run_len;
  for (i64 a = 0; a < s.n_rows; ++a)
    for (i64 j = 0; j < s.run_len; ++j) px[a * s.run_len + j] = s.rows[a] + j;
  for (i64 c0 = 0; c0 < co; c0 += 4 * W) {
    switch (std::min<i64>(4, (co - c0 + W - 1) / W)) {
      case 4: weight_cols_any<T, 4>(px, k, s, dy, co, c0, acc, ldw); break;
      case 3: weight_cols_any<T, 3>(px, k, s, dy, co, c0, acc, ldw); break;
      case 2: weight_cols_any<T, 2>(px, k, s, dy, co, c0, acc, ldw); break;
      default: weight_cols_any<T, 1>(px, k, s, dy, co, c0, acc, ldw); break;
    }
  }
}

}  // namespace
}  // namespace avx2

SmallCinKernels<float> small_cin_kernels_avx2_f32() {
  return {avx2::forward<float>, avx2::backward_weight<float>};
}
SmallCinKernels<double> small_cin_kernels_avx2_f64() {
  return {avx2::forward<double>, avx2::backward_weight<double>};
}

}  // namespace pyfrozen::detail
