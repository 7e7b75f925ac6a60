#pragma once
// General matrix multiply, row-major: C = alpha * op(A) * op(B) + beta * C.
#include <cstdint>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, all row-major.
///
/// - op(A) = A (stored m x k, lda >= max(1, k)) or, with trans_a, A^T (stored k x m,
///   lda >= max(1, m)); likewise op(B) with ldb and trans_b.
/// - ldc >= max(1, n). C must not overlap A or B.
/// - When beta == 0, C is only written, never read (it may hold NaN or garbage).
///   When alpha == 0 or k == 0, A and B are not read and C = beta * C.
/// - T is float or double. Threads: get_num_threads(); ISA: active_isa().
///   Safe to call from several threads at once.
/// Throws ShapeError for negative sizes or too-small leading dimensions.
template <typename T>
PYFROZEN_API void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                       std::int64_t k, T alpha, const T* a, std::int64_t lda, const T* b,
                       std::int64_t ldb, T beta, T* c, std::int64_t ldc);

extern template void gemm<float>(bool, bool, std::int64_t, std::int64_t,
                                              std::int64_t, float, const float*, std::int64_t,
                                              const float*, std::int64_t, float, float*,
                                              std::int64_t);
extern template void gemm<double>(bool, bool, std::int64_t, std::int64_t,
                                               std::int64_t, double, const double*,
                                               std::int64_t, const double*, std::int64_t,
                                               double, double*, std::int64_t);

/// Blocking the driver uses for T on the active ISA (for benchmarks and tests):
/// micro-tile mr x nr, cache blocks mc x kc x nc.
struct GemmBlocking {
  int mr, nr;
  std::int64_t mc, kc, nc;
};
template <typename T>
PYFROZEN_API GemmBlocking gemm_blocking();
extern template GemmBlocking gemm_blocking<float>();
extern template GemmBlocking gemm_blocking<double>();

}  // namespace pyfrozen
