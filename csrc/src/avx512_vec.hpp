#pragma once
// Private, for *_avx512.cpp files only: AVX-512 vectors of float (16 lanes) or double
// (8), with mask registers for a row's last columns. Everything sits in an anonymous
// namespace inside `avx512`, so each ISA file keeps its own copy and no generic code
// can link to one (the ISA-isolation test checks the linked library).
#ifndef __AVX512F__
#error "avx512_vec.hpp belongs to files built with -mavx512f (see CMakeLists.txt)"
#endif
#include <immintrin.h>

#include <cstdint>

namespace pyfrozen::detail::avx512 {
namespace {

template <typename T>
struct Z;

template <>
struct Z<float> {
  using R = __m512;
  using Mask = __mmask16;
  static constexpr int W = 16;
  static constexpr int kRegisters = 32;  // vector registers of the ISA
  static Mask mask(std::int64_t n) {
    return n >= W ? Mask(0xFFFF) : static_cast<Mask>((1u << n) - 1);
  }
  // Masked (the lanes of m) or plain, chosen at compile time; the plain forms ignore m.
  template <bool Masked>
  static R load(const float* p, Mask m) {
    if constexpr (Masked) return _mm512_maskz_loadu_ps(m, p);
    else return _mm512_loadu_ps(p);
  }
  template <bool Masked>
  static void store(float* p, Mask m, R v) {
    if constexpr (Masked) _mm512_mask_storeu_ps(p, m, v);
    else _mm512_storeu_ps(p, v);
  }
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static R mload(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static void mstore(float* p, Mask m, R v) { _mm512_mask_storeu_ps(p, m, v); }
  static R set1(float v) { return _mm512_set1_ps(v); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  // max(0, v) / min(c, v) with the constant first: NaN in v comes back as NaN (as AVX2).
  static R max0(R v) { return _mm512_max_ps(zero(), v); }
  static R min_c(R c, R v) { return _mm512_min_ps(c, v); }
  // Comparisons give mask registers; band keeps the lanes a mask selects (others 0).
  static Mask gt(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static Mask lt(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static Mask band(Mask a, Mask b) { return static_cast<Mask>(a & b); }
  static R band(Mask m, R v) { return _mm512_maskz_mov_ps(m, v); }
};

template <>
struct Z<double> {
  using R = __m512d;
  using Mask = __mmask8;
  static constexpr int W = 8;
  static constexpr int kRegisters = 32;  // vector registers of the ISA
  static Mask mask(std::int64_t n) {
    return n >= W ? Mask(0xFF) : static_cast<Mask>((1u << n) - 1);
  }
  // Masked (the lanes of m) or plain, chosen at compile time; the plain forms ignore m.
  template <bool Masked>
  static R load(const double* p, Mask m) {
    if constexpr (Masked) return _mm512_maskz_loadu_pd(m, p);
    else return _mm512_loadu_pd(p);
  }
  template <bool Masked>
  static void store(double* p, Mask m, R v) {
    if constexpr (Masked) _mm512_mask_storeu_pd(p, m, v);
    else _mm512_storeu_pd(p, v);
  }
  static R zero() { return _mm512_setzero_pd(); }
  static R load(const double* p) { return _mm512_loadu_pd(p); }
  static R mload(const double* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, R v) { _mm512_storeu_pd(p, v); }
  static void mstore(double* p, Mask m, R v) { _mm512_mask_storeu_pd(p, m, v); }
  static R set1(double v) { return _mm512_set1_pd(v); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R sub(R a, R b) { return _mm512_sub_pd(a, b); }
  // max(0, v) / min(c, v) with the constant first: NaN in v comes back as NaN (as AVX2).
  static R max0(R v) { return _mm512_max_pd(zero(), v); }
  static R min_c(R c, R v) { return _mm512_min_pd(c, v); }
  // Comparisons give mask registers; band keeps the lanes a mask selects (others 0).
  static Mask gt(R a, R b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
  static Mask lt(R a, R b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static Mask band(Mask a, Mask b) { return static_cast<Mask>(a & b); }
  static R band(Mask m, R v) { return _mm512_maskz_mov_pd(m, v); }
};

}  // namespace
}  // namespace pyfrozen::detail::avx512
