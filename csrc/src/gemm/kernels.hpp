#pragma once
// Private: the micro-kernel table the GEMM driver dispatches through, one per ISA.
#include <cstdint>

#include "gemm/pack.hpp"
#include "isa_registry.hpp"

namespace pyfrozen::detail {

/// C[m x n] = alpha * sum_k a[i*a_rs + k*a_cs] * b[k*ldb + j] + beta * C, for m <= mr,
/// n <= nr. `tile` takes a packed A micro-panel and ignores a_rs / a_cs (they are 1
/// and mr); `tile_strided` reads A in place with the given strides. b: kc rows of nr
/// values, ldb apart (a packed B micro-panel has ldb == nr); all nr values of each
/// row are read even when n < nr. beta == 0: C is not read.
template <typename T>
using TileKernel = void (*)(std::int64_t kc, const T* a, std::int64_t a_rs, std::int64_t a_cs,
                            const T* b, std::int64_t ldb, T* c, std::int64_t ldc, int m, int n,
                            T alpha, T beta);

/// C[m x n] = alpha * A[m x k] * B[n x k]^T + beta * C for m <= dot_mr, n <= dot_nr,
/// with the rows of A and B contiguous along k (the small-M "NT" case).
template <typename T>
using DotKernel = void (*)(std::int64_t k, const T* a, std::int64_t lda, const T* b,
                           std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha,
                           T beta);

template <typename T>
struct GemmKernels {
  int mr, nr;
  TileKernel<T> tile;
  TileKernel<T> tile_strided;
  int dot_mr, dot_nr;
  DotKernel<T> dot;
  PackAPanel<T> pack_a_panel;  // row-major A into one mr-row micro-panel
  // Share of L1 one K block of an A and a B micro-panel may take (the driver's kc, the
  // same on every path so the sums' order does not depend on the shape): 2/3 keeps both
  // in L1; a tile with enough FMAs per byte streams its B micro-panel from L2 instead
  // and gains from fewer, longer K blocks.
  double panels_share = 2.0 / 3.0;
};

// Portable scalar kernels: the fallback and the oracle (ukernel_ref.cpp).
GemmKernels<float> gemm_kernels_ref_f32();
GemmKernels<double> gemm_kernels_ref_f64();
// AVX2 + FMA kernels (ukernel_avx2.cpp, the only files built with -mavx2 -mfma).
GemmKernels<float> gemm_kernels_avx2_f32();
GemmKernels<double> gemm_kernels_avx2_f64();
// AVX-512 kernels (ukernel_avx512.cpp): wider register tiles on the AVX2 table.
GemmKernels<float> gemm_kernels_avx512_f32();
GemmKernels<double> gemm_kernels_avx512_f64();

/// The family's kernels per ISA path (see isa_registry.hpp).
inline constexpr IsaRegistry<GemmKernels> kGemmKernels{
    {gemm_kernels_ref_f32, gemm_kernels_avx2_f32, gemm_kernels_avx512_f32},
    {gemm_kernels_ref_f64, gemm_kernels_avx2_f64, gemm_kernels_avx512_f64},
};

}  // namespace pyfrozen::detail
