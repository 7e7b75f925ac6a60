// Portable bias + activation kernels: the generic path and the oracle of the AVX2 one.
#include "elementwise/activation_math.hpp"
#include "elementwise/bias_act_kernels.hpp"

namespace pyfrozen::detail {
namespace {

using i64 = std::int64_t;

// One loop per activation, so the switch is outside the element loop and the compiler
// can vectorise relu / relu6 / none.
template <typename T, typename F>
void map_rows(i64 rows, i64 c, const T* x, const T* bias, T* y, F f) {
  for (i64 r = 0; r < rows; ++r) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    if (bias != nullptr)
      for (i64 j = 0; j < c; ++j) yr[j] = f(xr[j] + bias[j]);
    else
      for (i64 j = 0; j < c; ++j) yr[j] = f(xr[j]);
  }
}

template <typename T>
void forward(i64 rows, i64 c, const T* x, const T* bias, Activation act, T* y) {
  with_activation(act, [&](auto a) {
    map_rows(rows, c, x, bias, y, [](T v) { return activate<decltype(a)::value>(v); });
  });
}

// g = dy * act'(y); a mask selects dy or 0 rather than multiplying by it.
template <typename T, typename G>
void grad_rows(i64 rows, i64 c, const T* dy, const T* y, T* dx, T* acc, G g) {
  for (i64 r = 0; r < rows; ++r) {
    const T* dyr = dy + r * c;
    const T* yr = y + r * c;
    if (dx != nullptr) {
      T* dxr = dx + r * c;
      for (i64 j = 0; j < c; ++j) dxr[j] = g(dyr[j], yr[j]);
      if (acc != nullptr)
        for (i64 j = 0; j < c; ++j) acc[j] += dxr[j];
    } else {
      for (i64 j = 0; j < c; ++j) acc[j] += g(dyr[j], yr[j]);
    }
  }
}

template <typename T>
void backward(i64 rows, i64 c, const T* dy, const T* y, Activation act, T* dx, T* acc) {
  with_activation(act, [&](auto a) {
    grad_rows(rows, c, dy, y, dx, acc,
              [](T d, T v) { return activation_grad<decltype(a)::value>(d, v); });
  });
}

}  // namespace

BiasActKernels<float> bias_act_kernels_ref_f32() { return {forward<float>, backward<float>}; }
BiasActKernels<double> bias_act_kernels_ref_f64() { return {forward<double>, backward<double>}; }

}  // namespace pyfrozen::detail
