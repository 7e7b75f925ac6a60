// Portable optimizer kernels: the fallback every CPU runs and the oracle the AVX2
// kernels are tested against. One element at a time; a frozen element is skipped
// (never read into the arithmetic, never written).
#include <cmath>

#include "optimizer/formulas.hpp"
#include "optimizer/kernels.hpp"

namespace pyfrozen::detail {
namespace {

using i64 = std::int64_t;

// A scalar in a local type, so the formula templates are instantiated privately here.
template <typename T>
struct S {
  T x;
};
template <typename T>
S<T> operator+(S<T> a, S<T> b) { return {a.x + b.x}; }
template <typename T>
S<T> operator-(S<T> a, S<T> b) { return {a.x - b.x}; }
template <typename T>
S<T> operator*(S<T> a, S<T> b) { return {a.x * b.x}; }
template <typename T>
S<T> operator/(S<T> a, S<T> b) { return {a.x / b.x}; }
template <typename T>
S<T> vsqrt(S<T> a) { return {std::sqrt(a.x)}; }

template <typename T>
struct ScalarLoop {
  /// x[k] = p[k][i] for k < N, f(g[i], x), p[k][i] = x[k]; frozen elements are skipped.
  template <int N, bool Masked, class F>
  void run(T* const* p, const T* g, const std::uint8_t* frozen, i64 begin, i64 end, F f) const {
    for (i64 i = begin; i < end; ++i) {
      if constexpr (Masked) {
        if (frozen[i] != 0) continue;
      }
      S<T> x[N];
      for (int k = 0; k < N; ++k) x[k] = S<T>{p[k][i]};
      f(S<T>{g[i]}, x);
      for (int k = 0; k < N; ++k) p[k][i] = x[k].x;
    }
  }
};

template <typename T>
void sgd(const SgdArgs<T>& a, i64 begin, i64 end) {
  const SgdCoef<S<T>> c{{a.lr}, {a.momentum}, {a.decay}};
  run_sgd<S<T>>(ScalarLoop<T>{}, a.w, a.g, a.v, a.frozen, a.decay != T(0), a.v != nullptr,
                a.nesterov, c, begin, end);
}

template <typename T>
void adam(const AdamArgs<T>& a, i64 begin, i64 end) {
  const AdamCoef<S<T>> c{{a.alpha}, {a.one_minus_b1}, {a.one_minus_b2}, {a.epsilon}, {a.decay}};
  run_adam<S<T>>(ScalarLoop<T>{}, a.w, a.g, a.m, a.v, a.frozen, a.decay != T(0), c, begin, end);
}

template <typename T>
void rmsprop(const RmspropArgs<T>& a, i64 begin, i64 end) {
  const RmspropCoef<S<T>> c{{a.lr},       {a.rho},     {a.one_minus_rho},
                            {a.momentum}, {a.epsilon}, {a.decay}};
  run_rmsprop<S<T>>(ScalarLoop<T>{}, a.w, a.g, a.v, a.mom, a.mg, a.frozen, a.decay != T(0), c,
                    begin, end);
}

}  // namespace

OptimizerKernels<float> optimizer_kernels_ref_f32() {
  return {&sgd<float>, &adam<float>, &rmsprop<float>};
}
OptimizerKernels<double> optimizer_kernels_ref_f64() {
  return {&sgd<double>, &adam<double>, &rmsprop<double>};
}

}  // namespace pyfrozen::detail
