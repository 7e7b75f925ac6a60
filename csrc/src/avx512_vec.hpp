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
  static Mask mask(int n) { return n >= W ? Mask(0xFFFF) : static_cast<Mask>((1u << n) - 1); }
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static R mload(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static void mstore(float* p, Mask m, R v) { _mm512_mask_storeu_ps(p, m, v); }
  static R set1(float v) { return _mm512_set1_ps(v); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
};

template <>
struct Z<double> {
  using R = __m512d;
  using Mask = __mmask8;
  static constexpr int W = 8;
  static constexpr int kRegisters = 32;  // vector registers of the ISA
  static Mask mask(int n) { return n >= W ? Mask(0xFF) : static_cast<Mask>((1u << n) - 1); }
  static R zero() { return _mm512_setzero_pd(); }
  static R load(const double* p) { return _mm512_loadu_pd(p); }
  static R mload(const double* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, R v) { _mm512_storeu_pd(p, v); }
  static void mstore(double* p, Mask m, R v) { _mm512_mask_storeu_pd(p, m, v); }
  static R set1(double v) { return _mm512_set1_pd(v); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
};

}  // namespace
}  // namespace pyfrozen::detail::avx512
