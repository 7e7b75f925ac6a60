// Portable batchnorm tile loops: the generic path, and the oracle of the AVX2 one.
#include "batchnorm/common.hpp"
#include "batchnorm/kernels.hpp"
#include "elementwise/activation_math.hpp"

namespace pyfrozen::detail {
namespace {

using i64 = std::int64_t;
using bn::Tile;
using bn::tile_sums;

Tile whole(i64 rows, i64 nc) { return Tile{0, 0, rows, 0, nc}; }

template <typename T>
void sum(i64 rows, i64 nc, i64 ld, const T* x, double* part) {
  tile_sums<T>(whole(rows, nc), part, nullptr, [&](i64 r, T* s, T*) {
    const T* xr = x + r * ld;
    for (i64 c = 0; c < nc; ++c) s[c] += xr[c];
  });
}

template <typename T>
void centered_sums(i64 rows, i64 nc, i64 ld, const T* x, const T* center, double* p1,
                   double* p2) {
  tile_sums<T>(whole(rows, nc), p1, p2, [&](i64 r, T* s1, T* s2) {
    const T* xr = x + r * ld;
    for (i64 c = 0; c < nc; ++c) {
      const T d = xr[c] - center[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  });
}

template <typename T>
void apply(i64 rows, i64 nc, i64 ld, const T* x, const T* center, const T* scale,
           const T* shift, Activation act, T* y) {
  with_activation(act, [&](auto A) {
    for (i64 r = 0; r < rows; ++r) {
      const T* xr = x + r * ld;
      T* yr = y + r * ld;
      for (i64 c = 0; c < nc; ++c)
        yr[c] = activate<decltype(A)::value>((xr[c] - center[c]) * scale[c] + shift[c]);
    }
  });
}

// The forward's output at element o (channel c): read, or recomputed from x as `apply`
// computes it (ActInput).
template <Activation A, typename T>
T forward_output(const ActInput<T>& in, const T* x, i64 o, i64 c) {
  if (in.y) return in.y[o];
  return activate<A>((x[o] - in.center[c]) * in.scale[c] + in.shift[c]);
}

// grad with its flags as template arguments: no branch in the inner loop.
template <typename T, Activation A, bool DX, bool DY, bool DYX>
void grad_tile(i64 rows, i64 nc, i64 ld, const T* dy, const ActInput<T>& in, const T* x,
               const T* center, const T* k, T* dx, double* p_dy, double* p_dyx) {
  auto row = [&](i64 r, T* s1, T* s2) {
    const T* dr = dy + r * ld;
    for (i64 c = 0; c < nc; ++c) {
      T g = dr[c];
      if constexpr (A != Activation::none)
        g = activation_grad<A>(g, forward_output<A>(in, x, r * ld + c, c));
      if constexpr (DX) dx[r * ld + c] = g * k[c];
      if constexpr (DY) s1[c] += g;
      if constexpr (DYX) s2[c] += g * (x[r * ld + c] - center[c]);
    }
  };
  if constexpr (DY || DYX)
    tile_sums<T>(whole(rows, nc), p_dy, p_dyx, row);
  else
    for (i64 r = 0; r < rows; ++r) row(r, nullptr, nullptr);
}

template <typename T>
void grad(i64 rows, i64 nc, i64 ld, const T* dy, ActInput<T> in, Activation act, const T* x,
          const T* center, const T* k, T* dx, double* p_dy, double* p_dyx) {
  with_activation(act, [&](auto A) {
    with_flag(dx != nullptr, [&](auto DX) {
      with_flag(p_dy != nullptr, [&](auto DY) {
        with_flag(p_dyx != nullptr, [&](auto DYX) {
          grad_tile<T, decltype(A)::value, decltype(DX)::value, decltype(DY)::value,
                    decltype(DYX)::value>(rows, nc, ld, dy, in, x, center, k, dx, p_dy, p_dyx);
        });
      });
    });
  });
}

template <typename T>
void training_dx(i64 rows, i64 nc, i64 ld, const T* dy, ActInput<T> in, Activation act,
                 const T* x, const T* mean, const T* k1, const T* k2, const T* k3, T* dx) {
  with_activation(act, [&](auto A) {
    constexpr Activation kA = decltype(A)::value;
    for (i64 r = 0; r < rows; ++r) {
      const i64 o = r * ld;
      for (i64 c = 0; c < nc; ++c) {
        T g = dy[o + c];
        if constexpr (kA != Activation::none)
          g = activation_grad<kA>(g, forward_output<kA>(in, x, o + c, c));
        dx[o + c] = k1[c] * g + k2[c] * (x[o + c] - mean[c]) + k3[c];
      }
    }
  });
}

template <typename T>
BatchNormKernels<T> table() {
  return {sum<T>, centered_sums<T>, apply<T>, grad<T>, training_dx<T>};
}

}  // namespace

BatchNormKernels<float> batchnorm_kernels_ref_f32() { return table<float>(); }
BatchNormKernels<double> batchnorm_kernels_ref_f64() { return table<double>(); }

}  // namespace pyfrozen::detail
