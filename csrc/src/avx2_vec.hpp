#pragma once
// Private, for *_avx2.cpp files only: AVX2 vectors of float (8 lanes) or double (4),
// with masked loads and stores for a row's last channels. Everything sits in an
// anonymous namespace inside `avx2`, so each ISA file keeps its own copy and no
// generic code can link to one (the ISA-isolation test checks the linked library).
#ifndef __AVX2__
#error "avx2_vec.hpp belongs to files built with -mavx2 -mfma"
#endif
#include <immintrin.h>

#include <cstdint>

namespace pyfrozen::detail::avx2 {
namespace {

template <typename T>
struct V;

template <>
struct V<float> {
  using R = __m256;
  static constexpr int W = 8;
  static constexpr int kRegisters = 16;  // vector registers of the ISA
  static __m256i mask(std::int64_t n) {  // lanes [0, n) on
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  template <bool Masked>
  static R load(const float* p, __m256i m) {
    if constexpr (Masked) return _mm256_maskload_ps(p, m);
    else return _mm256_loadu_ps(p);
  }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R mload(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
  static void mstore(float* p, __m256i m, R v) { _mm256_maskstore_ps(p, m, v); }
  template <bool Masked>
  static void store(float* p, __m256i m, R v) {
    if constexpr (Masked) _mm256_maskstore_ps(p, m, v);
    else _mm256_storeu_ps(p, v);
  }
  static R bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R set1(float v) { return _mm256_set1_ps(v); }
  // max(0, v) / min(c, v) with the constant first: NaN in v comes back as NaN.
  static R max0(R v) { return _mm256_max_ps(zero(), v); }
  static R min_c(R c, R v) { return _mm256_min_ps(c, v); }
  static R gt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static R lt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static R band(R a, R b) { return _mm256_and_ps(a, b); }
  static float hsum(R v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

template <>
struct V<double> {
  using R = __m256d;
  static constexpr int W = 4;
  static constexpr int kRegisters = 16;
  static __m256i mask(std::int64_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static R zero() { return _mm256_setzero_pd(); }
  static R load(const double* p) { return _mm256_loadu_pd(p); }
  template <bool Masked>
  static R load(const double* p, __m256i m) {
    if constexpr (Masked) return _mm256_maskload_pd(p, m);
    else return _mm256_loadu_pd(p);
  }
  static void store(double* p, R v) { _mm256_storeu_pd(p, v); }
  static R mload(const double* p, __m256i m) { return _mm256_maskload_pd(p, m); }
  static void mstore(double* p, __m256i m, R v) { _mm256_maskstore_pd(p, m, v); }
  template <bool Masked>
  static void store(double* p, __m256i m, R v) {
    if constexpr (Masked) _mm256_maskstore_pd(p, m, v);
    else _mm256_storeu_pd(p, v);
  }
  static R bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R sub(R a, R b) { return _mm256_sub_pd(a, b); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R set1(double v) { return _mm256_set1_pd(v); }
  static R max0(R v) { return _mm256_max_pd(zero(), v); }
  static R min_c(R c, R v) { return _mm256_min_pd(c, v); }
  static R gt(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static R lt(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static R band(R a, R b) { return _mm256_and_pd(a, b); }
  static double hsum(R v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
};

}  // namespace
}  // namespace pyfrozen::detail::avx2
