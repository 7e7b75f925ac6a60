#pragma once
// Private: the element formulas of the activations, written once for the portable
// kernels that apply them (bias + activation, batch normalization + activation), so a
// fused pass gives the same bits as the activation run on its own.
#include <cmath>
#include <type_traits>

#include "pyfrozen/activation.hpp"

namespace pyfrozen::detail {

/// act(v). relu / relu6 compare rather than call std::max, so NaN stays NaN.
template <Activation A, typename T>
inline T activate(T v) {
  if constexpr (A == Activation::relu) return v < T(0) ? T(0) : v;
  if constexpr (A == Activation::relu6) return v < T(0) ? T(0) : (v > T(6) ? T(6) : v);
  if constexpr (A == Activation::sigmoid) return T(1) / (T(1) + std::exp(-v));
  if constexpr (A == Activation::tanh) return std::tanh(v);
  return v;
}

/// dy * act'(.) read from the activation's OUTPUT y. relu / relu6 select dy or 0 (a
/// mask never multiplies: NaN in a masked-out dy gives 0, as torch does).
template <Activation A, typename T>
inline T activation_grad(T dy, T y) {
  if constexpr (A == Activation::relu) return y > T(0) ? dy : T(0);
  if constexpr (A == Activation::relu6) return y > T(0) && y < T(6) ? dy : T(0);
  if constexpr (A == Activation::sigmoid) return dy * (y * (T(1) - y));
  if constexpr (A == Activation::tanh) return dy * (T(1) - y * y);
  return dy;
}

/// Calls f(std::integral_constant<Activation, A>{}) for the run-time `act`: the
/// activation becomes a template argument, so element loops carry no switch.
template <typename F>
decltype(auto) with_activation(Activation act, F&& f) {
  switch (act) {
    case Activation::relu: return f(std::integral_constant<Activation, Activation::relu>{});
    case Activation::relu6: return f(std::integral_constant<Activation, Activation::relu6>{});
    case Activation::sigmoid:
      return f(std::integral_constant<Activation, Activation::sigmoid>{});
    case Activation::tanh: return f(std::integral_constant<Activation, Activation::tanh>{});
    case Activation::none: break;
  }
  return f(std::integral_constant<Activation, Activation::none>{});
}

}  // namespace pyfrozen::detail
