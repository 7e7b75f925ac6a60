// AVX2 bias + activation kernels (compiled with -mavx2 -mfma). Everything except the
// two entry points stays in the anonymous namespace inside the named `avx2` namespace,
// so no AVX2-compiled copy of a shared inline function can serve generic callers.
// sigmoid and tanh forward need exp: they call the portable kernels (libm) for now.
#include <immintrin.h>

#include "avx2_vec.hpp"
#include "elementwise/bias_act_kernels.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

using i64 = std::int64_t;

template <typename T>
using Vec = V<T>;

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
