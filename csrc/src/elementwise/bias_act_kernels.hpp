#pragma once
// Private: the row-block kernels bias_act.cpp dispatches through, one table per ISA.
#include <cstdint>

#include "pyfrozen/activation.hpp"
#include "isa_registry.hpp"

namespace pyfrozen::detail {

template <typename T>
struct BiasActKernels {
  /// y[r, :] = act(x[r, :] + bias) for `rows` contiguous rows of c values; bias may be
  /// nullptr; y may be x (in place).
  void (*forward)(std::int64_t rows, std::int64_t c, const T* x, const T* bias, Activation act,
                  T* y);
  /// g = dy * act'(y) row by row; dx (nullptr: skipped) = g; acc (c values, nullptr:
  /// skipped) += the sum of g over the rows.
  void (*backward)(std::int64_t rows, std::int64_t c, const T* dy, const T* y, Activation act,
                   T* dx, T* acc);
};

// Portable loops: the fallback and the oracle (bias_act_ref.cpp).
BiasActKernels<float> bias_act_kernels_ref_f32();
BiasActKernels<double> bias_act_kernels_ref_f64();
// AVX2 + FMA (bias_act_avx2.cpp).
BiasActKernels<float> bias_act_kernels_avx2_f32();
BiasActKernels<double> bias_act_kernels_avx2_f64();

/// The family's kernels per ISA path (see isa_registry.hpp).
inline constexpr IsaRegistry<BiasActKernels> kBiasActKernels{
    {bias_act_kernels_ref_f32, bias_act_kernels_avx2_f32},
    {bias_act_kernels_ref_f64, bias_act_kernels_avx2_f64},
};

}  // namespace pyfrozen::detail
