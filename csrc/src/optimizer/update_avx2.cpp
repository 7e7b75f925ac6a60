// AVX2 optimizer kernels: the formulas of formulas.hpp on 8 floats / 4 doubles at a
// time, tails through masked loads and stores. Built with -mavx2 -mfma but with
// -ffp-contract=off: no multiply-add is fused, so results equal the generic path's bit
// for bit. Frozen lanes keep their loaded bits (a blend, never a multiply); a vector
// whose lanes are all frozen is neither computed nor stored.
#include <immintrin.h>

#include <cstring>

#include "optimizer/formulas.hpp"
#include "optimizer/kernels.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

using i64 = std::int64_t;

struct F8 {
  __m256 x;
};
F8 operator+(F8 a, F8 b) { return {_mm256_add_ps(a.x, b.x)}; }
F8 operator-(F8 a, F8 b) { return {_mm256_sub_ps(a.x, b.x)}; }
F8 operator*(F8 a, F8 b) { return {_mm256_mul_ps(a.x, b.x)}; }
F8 operator/(F8 a, F8 b) { return {_mm256_div_ps(a.x, b.x)}; }
F8 vsqrt(F8 a) { return {_mm256_sqrt_ps(a.x)}; }

struct D4 {
  __m256d x;
};
D4 operator+(D4 a, D4 b) { return {_mm256_add_pd(a.x, b.x)}; }
D4 operator-(D4 a, D4 b) { return {_mm256_sub_pd(a.x, b.x)}; }
D4 operator*(D4 a, D4 b) { return {_mm256_mul_pd(a.x, b.x)}; }
D4 operator/(D4 a, D4 b) { return {_mm256_div_pd(a.x, b.x)}; }
D4 vsqrt(D4 a) { return {_mm256_sqrt_pd(a.x)}; }

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using R = F8;
  static constexpr int W = 8;
  static R set1(float v) { return {_mm256_set1_ps(v)}; }
  static __m256i tail(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R load(const float* p, int n, __m256i t) {
    return {n == W ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, t)};
  }
  static void store(float* p, R v, int n, __m256i t) {
    if (n == W)
      _mm256_storeu_ps(p, v.x);
    else
      _mm256_maskstore_ps(p, t, v.x);
  }
  /// All-ones lanes where the mask byte is nonzero (frozen); lanes >= n read as 0.
  static __m256i frozen_lanes(const std::uint8_t* m, int n) {
    std::uint64_t bytes = 0;
    if (n == W)  // a fixed size: one 8-byte load, not a memcpy call
      std::memcpy(&bytes, m, 8);
    else
      std::memcpy(&bytes, m, static_cast<std::size_t>(n));
    const __m256i wide = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(bytes)));
    const __m256i trainable = _mm256_cmpeq_epi32(wide, _mm256_setzero_si256());
    return _mm256_xor_si256(trainable, _mm256_set1_epi32(-1));
  }
  static int bits(__m256i lanes) { return _mm256_movemask_ps(_mm256_castsi256_ps(lanes)); }
  /// The new value where trainable, the old bits where frozen.
  static R keep(R fresh, R old, __m256i frozen) {
    return {_mm256_blendv_ps(fresh.x, old.x, _mm256_castsi256_ps(frozen))};
  }
};

template <>
struct Vec<double> {
  using R = D4;
  static constexpr int W = 4;
  static R set1(double v) { return {_mm256_set1_pd(v)}; }
  static __m256i tail(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static R load(const double* p, int n, __m256i t) {
    return {n == W ? _mm256_loadu_pd(p) : _mm256_maskload_pd(p, t)};
  }
  static void store(double* p, R v, int n, __m256i t) {
    if (n == W)
      _mm256_storeu_pd(p, v.x);
    else
      _mm256_maskstore_pd(p, t, v.x);
  }
  static __m256i frozen_lanes(const std::uint8_t* m, int n) {
    std::uint32_t bytes = 0;
    if (n == W)
      std::memcpy(&bytes, m, 4);
    else
      std::memcpy(&bytes, m, static_cast<std::size_t>(n));
    const __m256i wide = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(static_cast<int>(bytes)));
    const __m256i trainable = _mm256_cmpeq_epi64(wide, _mm256_setzero_si256());
    return _mm256_xor_si256(trainable, _mm256_set1_epi32(-1));
  }
  static int bits(__m256i lanes) { return _mm256_movemask_pd(_mm256_castsi256_pd(lanes)); }
  static R keep(R fresh, R old, __m256i frozen) {
    return {_mm256_blendv_pd(fresh.x, old.x, _mm256_castsi256_pd(frozen))};
  }
};

template <typename T>
struct VectorLoop {
  using V = Vec<T>;
  using R = typename V::R;

  /// x[k] = p[k][i..i+W) for k < N, f(g, x), stored back; frozen lanes keep their bits.
  template <int N, bool Masked, class F>
  void run(T* const* p, const T* g, const std::uint8_t* frozen, i64 begin, i64 end, F f) const {
    for (i64 i = begin; i < end; i += V::W) {
      const int n = end - i < V::W ? static_cast<int>(end - i) : V::W;  // no STL here
      const __m256i t = V::tail(n);
      __m256i fz = _mm256_setzero_si256();
      if constexpr (Masked) {
        fz = V::frozen_lanes(frozen + i, n);
        const int all = (1 << n) - 1;
        if ((V::bits(fz) & all) == all) continue;  // nothing to update here
      }
      R x[N], old[N];
      for (int k = 0; k < N; ++k) old[k] = x[k] = V::load(p[k] + i, n, t);
      f(V::load(g + i, n, t), x);
      for (int k = 0; k < N; ++k) {
        if constexpr (Masked) x[k] = V::keep(x[k], old[k], fz);
        V::store(p[k] + i, x[k], n, t);
      }
    }
  }
};

template <typename T>
void sgd(const SgdArgs<T>& a, i64 begin, i64 end) {
  using V = Vec<T>;
  const SgdCoef<typename V::R> c{V::set1(a.lr), V::set1(a.momentum), V::set1(a.decay)};
  run_sgd<typename V::R>(VectorLoop<T>{}, a.w, a.g, a.v, a.frozen, a.decay != T(0),
                         a.v != nullptr, a.nesterov, c, begin, end);
}

template <typename T>
void adam(const AdamArgs<T>& a, i64 begin, i64 end) {
  using V = Vec<T>;
  const AdamCoef<typename V::R> c{V::set1(a.alpha), V::set1(a.one_minus_b1),
                                  V::set1(a.one_minus_b2), V::set1(a.epsilon), V::set1(a.decay)};
  run_adam<typename V::R>(VectorLoop<T>{}, a.w, a.g, a.m, a.v, a.frozen, a.decay != T(0), c,
                          begin, end);
}

template <typename T>
void rmsprop(const RmspropArgs<T>& a, i64 begin, i64 end) {
  using V = Vec<T>;
  const RmspropCoef<typename V::R> c{V::set1(a.lr),       V::set1(a.rho),
                                     V::set1(a.one_minus_rho), V::set1(a.momentum),
                                     V::set1(a.epsilon),  V::set1(a.decay)};
  run_rmsprop<typename V::R>(VectorLoop<T>{}, a.w, a.g, a.v, a.mom, a.mg, a.frozen,
                             a.decay != T(0), c, begin, end);
}

}  // namespace
}  // namespace avx2

OptimizerKernels<float> optimizer_kernels_avx2_f32() {
  return {&avx2::sgd<float>, &avx2::adam<float>, &avx2::rmsprop<float>};
}
OptimizerKernels<double> optimizer_kernels_avx2_f64() {
  return {&avx2::sgd<double>, &avx2::adam<double>, &avx2::rmsprop<double>};
}

}  // namespace pyfrozen::detail
