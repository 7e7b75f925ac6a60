// AVX2 batchnorm tile loops (built with -mavx2 -mfma -ffp-contract=off). Channels sit in
// the vector lanes; rows are read in order (long sequential reads: walking a strip of
// channels down the rows instead thrashed L1 sets at a 512-byte pitch and ran no faster
// than the portable loops). Each element sees the operations of the portable loops in
// their order, so the bits are the same. Channels left over after the last full vector, and the
// activations without a vector form here (sigmoid, tanh), go to the portable loops.
// Everything stays inside `avx2`; all but the entry points in an anonymous namespace.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "batchnorm/kernels.hpp"
#include "avx2_vec.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

using i64 = std::int64_t;
using bn::kBlockRows;

template <typename T>
BatchNormKernels<T> ref() {
  if constexpr (std::is_same_v<T, float>) return batchnorm_kernels_ref_f32();
  else return batchnorm_kernels_ref_f64();
}

bool vectorized(Activation act) {
  return act == Activation::none || act == Activation::relu || act == Activation::relu6;
}

// Up to this many vectors of channels (a 32-channel float row) a tile's accumulators
// stay in registers for a whole block of rows instead of going through L1 every row.
constexpr int kRegisterVectors = 4;

/// A block's n totals (T) added into the double partials p (nullptr: not wanted).
template <typename T>
void add_totals(const T* acc, i64 n, double* p) {
  for (i64 c = 0; c < n && p; ++c) p[c] += static_cast<double>(acc[c]);
}

/// One block of rows with NV vectors of accumulators held in registers.
template <typename T, int NV, typename Body>
void block_in_registers(i64 r0, i64 r1, double* p0, double* p1, Body& body) {
  using v = V<T>;
  typename v::R s0[NV], s1[NV];
  for (int k = 0; k < NV; ++k) s0[k] = s1[k] = v::zero();
  for (i64 r = r0; r < r1; ++r)
    for (int k = 0; k < NV; ++k) body(r, k * v::W, s0[k], s1[k]);
  alignas(32) T acc[2][NV * v::W];
  for (int k = 0; k < NV; ++k) {
    v::store(acc[0] + k * v::W, s0[k]);
    v::store(acc[1] + k * v::W, s1[k]);
  }
  add_totals(acc[0], NV * v::W, p0);
  add_totals(acc[1], NV * v::W, p1);
}

/// Up to two per-channel sums over a tile, row after row (long sequential reads): for
/// every row and every full vector of channels at c, body(r, c, s0, s1) adds that
/// vector's terms into the accumulator vectors s0 / s1 (registers for a tile of at most
/// kRegisterVectors vectors, else loaded from and stored to T arrays on the stack, in
/// L1); every kBlockRows rows they are added into p0 / p1 (nullptr: that sum is not
/// wanted), as tile_sums does. Returns the first channel of the tail (fewer than one
/// vector), which body does not see.
template <typename T, typename Body>
i64 stream_sums(i64 rows, i64 nc, double* p0, double* p1, Body&& body) {
  using v = V<T>;
  const i64 end = nc / v::W * v::W, nv = end / v::W;
  if (p0) std::fill(p0, p0 + nc, 0.0);
  if (p1) std::fill(p1, p1 + nc, 0.0);
  alignas(32) T acc0[bn::kChannelBlock];
  alignas(32) T acc1[bn::kChannelBlock];
  for (i64 r0 = 0; r0 < rows; r0 += kBlockRows) {
    const i64 r1 = std::min(rows, r0 + kBlockRows);
    switch (nv) {
      case 0: continue;
      case 1: block_in_registers<T, 1>(r0, r1, p0, p1, body); continue;
      case 2: block_in_registers<T, 2>(r0, r1, p0, p1, body); continue;
      case 3: block_in_registers<T, 3>(r0, r1, p0, p1, body); continue;
      case kRegisterVectors: block_in_registers<T, kRegisterVectors>(r0, r1, p0, p1, body); continue;
      default: break;
    }
    std::fill(acc0, acc0 + end, T(0));
    std::fill(acc1, acc1 + end, T(0));
    for (i64 r = r0; r < r1; ++r)
      for (i64 c = 0; c < end; c += v::W) {
        auto s0 = v::load(acc0 + c), s1 = v::load(acc1 + c);
        body(r, c, s0, s1);
        v::store(acc0 + c, s0);
        v::store(acc1 + c, s1);
      }
    add_totals(acc0, end, p0);
    add_totals(acc1, end, p1);
  }
  return end;
}

/// g = dy * act'(y) for relu / relu6 as a mask (selects dy or 0, as the portable loop).
template <typename T, Activation A>
typename V<T>::R grad_of(typename V<T>::R d, const T* y) {
  using v = V<T>;
  if constexpr (A == Activation::relu) {
    return v::band(v::gt(v::load(y), v::zero()), d);
  } else if constexpr (A == Activation::relu6) {
    const auto yv = v::load(y);
    return v::band(v::band(v::gt(yv, v::zero()), v::lt(yv, v::set1(T(6)))), d);
  } else {
    return d;
  }
}

template <typename T, Activation A>
typename V<T>::R activate_v(typename V<T>::R x) {
  using v = V<T>;
  if constexpr (A == Activation::relu) return v::max0(x);
  else if constexpr (A == Activation::relu6) return v::min_c(v::set1(T(6)), v::max0(x));
  else return x;
}

template <typename F>
void with_vector_activation(Activation act, F&& f) {
  if (act == Activation::relu) f(std::integral_constant<Activation, Activation::relu>{});
  else if (act == Activation::relu6) f(std::integral_constant<Activation, Activation::relu6>{});
  else f(std::integral_constant<Activation, Activation::none>{});
}

// ---- sums -----------------------------------------------------------------------------

template <typename T>
void sum(i64 rows, i64 nc, i64 ld, const T* x, double* part) {
  using v = V<T>;
  auto body = [&](i64 r, i64 c, typename v::R& s, typename v::R&) {
    s = v::add(s, v::load(x + r * ld + c));
  };
  const i64 tail = stream_sums<T>(rows, nc, part, nullptr, body);
  if (tail < nc) ref<T>().sum(rows, nc - tail, ld, x + tail, part + tail);
}

template <typename T>
void centered_sums(i64 rows, i64 nc, i64 ld, const T* x, const T* center, double* p1,
                   double* p2) {
  using v = V<T>;
  auto body = [&](i64 r, i64 c, typename v::R& s1, typename v::R& s2) {
    const auto d = v::sub(v::load(x + r * ld + c), v::load(center + c));
    s1 = v::add(s1, d);
    s2 = v::add(s2, v::mul(d, d));
  };
  const i64 tail = stream_sums<T>(rows, nc, p1, p2, body);
  if (tail < nc)
    ref<T>().centered_sums(rows, nc - tail, ld, x + tail, center + tail, p1 + tail, p2 + tail);
}

// g's sums (and g * k into dx); flags as template arguments.
template <typename T, Activation A, bool DX, bool DY, bool DYX>
void grad_tile(i64 rows, i64 nc, i64 ld, const T* dy, const T* y, const T* x, const T* center,
               const T* k, T* dx, double* p_dy, double* p_dyx) {
  using v = V<T>;
  auto body = [&](i64 r, i64 c, typename v::R& s1, typename v::R& s2) {
    const i64 o = r * ld + c;
    const auto g = grad_of<T, A>(v::load(dy + o), A == Activation::none ? nullptr : y + o);
    if constexpr (DX) v::store(dx + o, v::mul(g, v::load(k + c)));
    if constexpr (DY) s1 = v::add(s1, g);
    if constexpr (DYX) s2 = v::add(s2, v::mul(g, v::sub(v::load(x + o), v::load(center + c))));
  };
  i64 tail = nc / v::W * v::W;
  if constexpr (DY || DYX) {
    tail = stream_sums<T>(rows, nc, DY ? p_dy : nullptr, DYX ? p_dyx : nullptr, body);
  } else {
    typename v::R unused0, unused1;
    for (i64 r = 0; r < rows; ++r)
      for (i64 c = 0; c < tail; c += v::W) body(r, c, unused0, unused1);
  }
  if (tail < nc) {
    auto at = [&](const T* p) { return p ? p + tail : nullptr; };
    ref<T>().grad(rows, nc - tail, ld, dy + tail, at(y), A, at(x), at(center), at(k),
                  dx ? dx + tail : nullptr, p_dy ? p_dy + tail : nullptr,
                  p_dyx ? p_dyx + tail : nullptr);
  }
}

template <typename T>
void grad(i64 rows, i64 nc, i64 ld, const T* dy, const T* y, Activation act, const T* x,
          const T* center, const T* k, T* dx, double* p_dy, double* p_dyx) {
  if (!vectorized(act))
    return ref<T>().grad(rows, nc, ld, dy, y, act, x, center, k, dx, p_dy, p_dyx);
  with_vector_activation(act, [&](auto A) {
    with_flag(dx != nullptr, [&](auto DX) {
      with_flag(p_dy != nullptr, [&](auto DY) {
        with_flag(p_dyx != nullptr, [&](auto DYX) {
          grad_tile<T, decltype(A)::value, decltype(DX)::value, decltype(DY)::value,
                    decltype(DYX)::value>(rows, nc, ld, dy, y, x, center, k, dx, p_dy, p_dyx);
        });
      });
    });
  });
}

// ---- element-wise passes ----------------------------------------------------------------

template <typename T>
void apply(i64 rows, i64 nc, i64 ld, const T* x, const T* center, const T* scale,
           const T* shift, Activation act, T* y) {
  using v = V<T>;
  if (!vectorized(act)) return ref<T>().apply(rows, nc, ld, x, center, scale, shift, act, y);
  const i64 full = nc / v::W * v::W;
  with_vector_activation(act, [&](auto A) {
    for (i64 r = 0; r < rows; ++r)
      for (i64 c = 0; c < full; c += v::W) {
        const auto t = v::sub(v::load(x + r * ld + c), v::load(center + c));
        const auto z = v::add(v::mul(t, v::load(scale + c)), v::load(shift + c));
        v::store(y + r * ld + c, activate_v<T, decltype(A)::value>(z));
      }
  });
  if (full < nc)
    ref<T>().apply(rows, nc - full, ld, x + full, center + full, scale + full, shift + full, act,
                   y + full);
}

template <typename T>
void training_dx(i64 rows, i64 nc, i64 ld, const T* dy, const T* y, Activation act, const T* x,
                 const T* mean, const T* k1, const T* k2, const T* k3, T* dx) {
  using v = V<T>;
  if (!vectorized(act))
    return ref<T>().training_dx(rows, nc, ld, dy, y, act, x, mean, k1, k2, k3, dx);
  const i64 full = nc / v::W * v::W;
  with_vector_activation(act, [&](auto A) {
    constexpr Activation kA = decltype(A)::value;
    for (i64 r = 0; r < rows; ++r)
      for (i64 c = 0; c < full; c += v::W) {
        const i64 o = r * ld + c;
        const auto g = grad_of<T, kA>(v::load(dy + o), kA == Activation::none ? nullptr : y + o);
        const auto a = v::mul(v::load(k1 + c), g);
        const auto b = v::mul(v::load(k2 + c), v::sub(v::load(x + o), v::load(mean + c)));
        v::store(dx + o, v::add(v::add(a, b), v::load(k3 + c)));
      }
  });
  if (full < nc)
    ref<T>().training_dx(rows, nc - full, ld, dy + full, y ? y + full : nullptr, act, x + full,
                         mean + full, k1 + full, k2 + full, k3 + full, dx + full);
}

template <typename T>
BatchNormKernels<T> table() {
  return {sum<T>, centered_sums<T>, apply<T>, grad<T>, training_dx<T>};
}

}  // namespace

BatchNormKernels<float> batchnorm_kernels_f32() { return table<float>(); }
BatchNormKernels<double> batchnorm_kernels_f64() { return table<double>(); }

}  // namespace avx2

}  // namespace pyfrozen::detail
