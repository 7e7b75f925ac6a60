#pragma once
// Private: the per-ISA optimizer kernel table. Each kernel updates elements
// [begin, end) of one call; the driver (update.cpp) validates, splits the range
// across threads and computes the scalar coefficients once, in double.
#include <cstdint>

#include "isa_registry.hpp"

namespace pyfrozen::detail {

template <typename T>
struct SgdArgs {
  T* w;
  const T* g;
  T* v;                        // nullptr without momentum
  const std::uint8_t* frozen;  // nullptr: no mask
  T lr, momentum;
  T decay;  // learning_rate * weight_decay; 0 skips the decay line
  bool nesterov;
};

template <typename T>
struct AdamArgs {
  T* w;
  const T* g;
  T* m;
  T* v;
  const std::uint8_t* frozen;
  T alpha;        // learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t)
  T one_minus_b1, one_minus_b2, epsilon;
  T decay;
};

template <typename T>
struct RmspropArgs {
  T* w;
  const T* g;
  T* v;
  T* mom;  // nullptr without momentum
  T* mg;   // nullptr unless centered
  const std::uint8_t* frozen;
  T lr, rho, one_minus_rho, momentum, epsilon;
  T decay;
};

template <typename T>
struct OptimizerKernels {
  void (*sgd)(const SgdArgs<T>&, std::int64_t begin, std::int64_t end);
  void (*adam)(const AdamArgs<T>&, std::int64_t begin, std::int64_t end);
  void (*rmsprop)(const RmspropArgs<T>&, std::int64_t begin, std::int64_t end);
};

// Portable kernels: the fallback and the oracle (update_ref.cpp).
OptimizerKernels<float> optimizer_kernels_ref_f32();
OptimizerKernels<double> optimizer_kernels_ref_f64();
// AVX2 kernels (update_avx2.cpp, built with -mavx2 -mfma but without FP contraction).
OptimizerKernels<float> optimizer_kernels_avx2_f32();
OptimizerKernels<double> optimizer_kernels_avx2_f64();

/// The family's kernels per ISA path (see isa_registry.hpp).
inline constexpr IsaRegistry<OptimizerKernels> kOptimizerKernels{
    {optimizer_kernels_ref_f32, optimizer_kernels_avx2_f32},
    {optimizer_kernels_ref_f64, optimizer_kernels_avx2_f64},
};

}  // namespace pyfrozen::detail
