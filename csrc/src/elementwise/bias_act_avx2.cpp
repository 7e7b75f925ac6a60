// AVX2 bias + activation kernels (compiled with -mavx2 -mfma). Everything except the
// two entry points stays in the anonymous namespace inside the named `avx2` namespace,
// so no AVX2-compiled copy of a shared inline function can serve generic callers.
// sigmoid and tanh forward need exp: they call the portable kernels (libm) for now.
#include <immintrin.h>

#include "elementwise/bias_act_kernels.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

using i64 = std::int64_t;

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using R = __m256;
  static constexpr int W = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R set1(float v) { return _mm256_set1_ps(v); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static __m256i mask(i64 n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R mload(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
  static void mstore(float* p, __m256i m, R v) { _mm256_maskstore_ps(p, m, v); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  // max(0, v) / min(6, v) with the constant first: NaN in v comes back as NaN.
  static R max0(R v) { return _mm256_max_ps(zero(), v); }
  static R min_c(R c, R v) { return _mm256_min_ps(c, v); }
  static R gt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static R lt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static R band(R a, R b) { return _mm256_and_ps(a, b); }
};

template <>
struct Vec<double> {
  using R = __m256d;
  static constexpr int W = 4;
  static R zero() { return _mm256_setzero_pd(); }
  static R set1(double v) { return _mm256_set1_pd(v); }
  static R load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, R v) { _mm256_storeu_pd(p, v); }
  static __m256i mask(i64 n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static R mload(const double* p, __m256i m) { return _mm256_maskload_pd(p, m); }
  static void mstore(double* p, __m256i m, R v) { _mm256_maskstore_pd(p, m, v); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R sub(R a, R b) { return _mm256_sub_pd(a, b); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R max0(R v) { return _mm256_max_pd(zero(), v); }
  static R min_c(R c, R v) { return _mm256_min_pd(c, v); }
  static R gt(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static R lt(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static R band(R a, R b) { return _mm256_and_pd(a, b); }
};

// Applies op to every vector of each row: full vectors, then one masked tail
// (masked loads never touch memory past the row).
template <typename T, typename Op>
inline void for_each_vector(i64 rows, i64 c, Op op) {
  using V = Vec<T>;
  const i64 full = c / V::W * V::W;
  const __m256i tail = V::mask(c - full);
  for (i64 r = 0; r < rows; ++r) {
    for (i64 j = 0; j < full; j += V::W) op(r * c + j, j, false, tail);
    if (full < c) op(r * c + full, full, true, tail);
  }
}

template <typename T, typename F>
inline void map_rows(i64 rows, i64 c, const T* x, const T* bias, T* y, F f) {
  using V = Vec<T>;
  for_each_vector<T>(rows, c, [&](i64 at, i64 j, bool masked, __m256i m) {
    auto v = masked ? V::mload(x + at, m) : V::load(x + at);
    if (bias != nullptr) v = V::add(v, masked ? V::mload(bias + j, m) : V::load(bias + j));
    v = f(v);
    if (masked) V::mstore(y + at, m, v); else V::store(y + at, v);
  });
}

template <typename T>
void forward(i64 rows, i64 c, const T* x, const T* bias, Activation act, T* y) {
  using V = Vec<T>;
  using R = typename V::R;
  switch (act) {
    case Activation::none: return map_rows(rows, c, x, bias, y, [](R v) { return v; });
    case Activation::relu: return map_rows(rows, c, x, bias, y, [](R v) { return V::max0(v); });
    case Activation::relu6: {
      const R six = V::set1(T(6));
      return map_rows(rows, c, x, bias, y, [&](R v) { return V::min_c(six, V::max0(v)); });
    }
    case Activation::sigmoid:
    case Activation::tanh:
      if constexpr (sizeof(T) == 4) bias_act_kernels_ref_f32().forward(rows, c, x, bias, act, y);
      else bias_act_kernels_ref_f64().forward(rows, c, x, bias, act, y);
      return;
  }
}

template <typename T, typename G>
inline void grad_rows(i64 rows, i64 c, const T* dy, const T* y, T* dx, T* acc, G g) {
  using V = Vec<T>;
  for_each_vector<T>(rows, c, [&](i64 at, i64 j, bool masked, __m256i m) {
    const auto d = masked ? V::mload(dy + at, m) : V::load(dy + at);
    const auto v = masked ? V::mload(y + at, m) : V::load(y + at);
    const auto gv = g(d, v);
    if (dx != nullptr) {
      if (masked) V::mstore(dx + at, m, gv); else V::store(dx + at, gv);
    }
    if (acc != nullptr) {
      if (masked) V::mstore(acc + j, m, V::add(V::mload(acc + j, m), gv));
      else V::store(acc + j, V::add(V::load(acc + j), gv));
    }
  });
}

template <typename T>
void backward(i64 rows, i64 c, const T* dy, const T* y, Activation act, T* dx, T* acc) {
  using V = Vec<T>;
  using R = typename V::R;
  const R zero = V::zero(), one = V::set1(T(1)), six = V::set1(T(6));
  switch (act) {
    case Activation::none:
      return grad_rows(rows, c, dy, y, dx, acc, [](R d, R) { return d; });
    case Activation::relu:  // select dy where y > 0: and with the all-ones compare mask
      return grad_rows(rows, c, dy, y, dx, acc,
                       [&](R d, R v) { return V::band(V::gt(v, zero), d); });
    case Activation::relu6:
      return grad_rows(rows, c, dy, y, dx, acc, [&](R d, R v) {
        return V::band(V::band(V::gt(v, zero), V::lt(v, six)), d);
      });
    case Activation::sigmoid:
      return grad_rows(rows, c, dy, y, dx, acc,
                       [&](R d, R v) { return V::mul(d, V::mul(v, V::sub(one, v))); });
    case Activation::tanh:
      return grad_rows(rows, c, dy, y, dx, acc,
                       [&](R d, R v) { return V::mul(d, V::sub(one, V::mul(v, v))); });
  }
}

}  // namespace
}  // namespace avx2

BiasActKernels<float> bias_act_kernels_avx2_f32() {
  return {avx2::forward<float>, avx2::backward<float>};
}
BiasActKernels<double> bias_act_kernels_avx2_f64() {
  return {avx2::forward<double>, avx2::backward<double>};
}

}  // namespace pyfrozen::detail
