#pragma once
// Private: op(B) packed once for several products that share it. A convolution runs one
// GEMM per tile of output pixels against the same weights; packing them per tile cost
// 4 % of a MobileNet inference on Zen 4 (perf), packing them once per call a tile's share.
#include <cstdint>

#include "gemm/kernels.hpp"
#include "pyfrozen/gemm.hpp"

namespace pyfrozen::detail {

/// op(B) (k x n) in the micro-panels of every K block, as pack_b writes them: block q
/// (rows [q*kc, q*kc + kcq)) at data + q*kc*n_padded, its panel p at + p*nr*kcq. The
/// kernel table and blocking it was packed for travel with it, so a product uses the
/// same ones even if the active ISA changes in between.
template <typename T>
struct PackedB {
  GemmKernels<T> kern;
  GemmBlocking bl;
  std::int64_t k, n;
  const T* data;

  std::int64_t n_padded() const { return (n + kern.nr - 1) / kern.nr * kern.nr; }
  /// The panel holding columns [j0, j0 + nr) of the K block starting at row k0 (both
  /// block-aligned: k0 a multiple of kc, j0 of nr).
  const T* panel(std::int64_t k0, std::int64_t j0) const {
    const std::int64_t kcq = k - k0 < bl.kc ? k - k0 : bl.kc;
    return data + k0 * n_padded() + j0 * kcq;
  }
};

/// Packs op(B) (k x n; B^T when trans_b, ldb apart) for the active path into the calling
/// thread's gemm_packed_b scratch buffer (valid until that thread packs again). The
/// kernel table is read once, so the buffer's size and the panels' width always agree.
template <typename T>
PackedB<T> pack_b_once(bool trans_b, std::int64_t k, std::int64_t n, const T* b,
                       std::int64_t ldb);

/// C[m x n] = A[m x k] * B for a packed B (row-major A, lda apart; C overwritten).
template <typename T>
void gemm_packed_b(std::int64_t m, const T* a, std::int64_t lda, const PackedB<T>& b, T* c,
                   std::int64_t ldc);

}  // namespace pyfrozen::detail
