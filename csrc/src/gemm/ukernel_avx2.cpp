// AVX2 + FMA micro-kernels: 6x16 (float) and 6x8 (double) register tiles.
// This is one of the few files compiled with -mavx2 -mfma: everything but the two
// entry points stays in the anonymous namespace so no AVX2-compiled copy of a
// shared inline function can be picked by the linker for generic callers.
#include <immintrin.h>

#include "avx2_vec.hpp"
#include "gemm/kernels.hpp"
#include "gemm/register_tile.hpp"

namespace pyfrozen::detail {
// The named `avx2` namespace puts "avx2" in every symbol of this file, so a test can
// check the linked library: no function outside it may touch ymm registers.
namespace avx2 {
namespace {

constexpr int kMR = 6;  // 6 rows x 2 vectors = 12 accumulators: covers FMA latency 5 x 2 pipes
constexpr int kDotMR = 4;
constexpr int kDotNR = 3;

template <typename T>
using Vec = V<T>;  // avx2_vec.hpp

template <typename T, bool kStrided>
constexpr TileKernel<T> kTile = register_tile::tile_any<Vec<T>, kMR, T, kStrided>;

// M x N dot products vectorised along k: 12 accumulators for 4x3.
template <typename T, int M, int N>
void dot(std::int64_t k, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
         std::int64_t ldc, T alpha, T beta) {
  using V = Vec<T>;
  typename V::R acc[M][N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) acc[i][j] = V::zero();
  std::int64_t kk = 0;
  for (; kk + V::W <= k; kk += V::W) {
    typename V::R bv[N];
    for (int j = 0; j < N; ++j) bv[j] = V::load(b + j * ldb + kk);
    for (int i = 0; i < M; ++i) {
      const auto av = V::load(a + i * lda + kk);
      for (int j = 0; j < N; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
  }
  if (kk < k) {  // tail: masked loads read only the k - kk valid values
    const __m256i m = V::mask(static_cast<int>(k - kk));
    typename V::R bv[N];
    for (int j = 0; j < N; ++j) bv[j] = V::mload(b + j * ldb + kk, m);
    for (int i = 0; i < M; ++i) {
      const auto av = V::mload(a + i * lda + kk, m);
      for (int j = 0; j < N; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      T* cij = c + i * ldc + j;
      const T s = alpha * V::hsum(acc[i][j]);
      *cij = beta == T(0) ? s : s + beta * *cij;
    }
}

template <typename T, int M>
void dot_cols(std::int64_t k, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
              std::int64_t ldc, int n, T alpha, T beta) {
  switch (n) {
    case 3: return dot<T, M, 3>(k, a, lda, b, ldb, c, ldc, alpha, beta);
    case 2: return dot<T, M, 2>(k, a, lda, b, ldb, c, ldc, alpha, beta);
    default: return dot<T, M, 1>(k, a, lda, b, ldb, c, ldc, alpha, beta);
  }
}

template <typename T>
void dot_any(std::int64_t k, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
             std::int64_t ldc, int m, int n, T alpha, T beta) {
  switch (m) {
    case 4: return dot_cols<T, 4>(k, a, lda, b, ldb, c, ldc, n, alpha, beta);
    case 3: return dot_cols<T, 3>(k, a, lda, b, ldb, c, ldc, n, alpha, beta);
    case 2: return dot_cols<T, 2>(k, a, lda, b, ldb, c, ldc, n, alpha, beta);
    default: return dot_cols<T, 1>(k, a, lda, b, ldb, c, ldc, n, alpha, beta);
  }
}

}  // namespace
}  // namespace avx2

GemmKernels<float> gemm_kernels_avx2_f32() {
  return {avx2::kMR,          16,           avx2::kTile<float, false>,
          avx2::kTile<float, true>, avx2::kDotMR, avx2::kDotNR, avx2::dot_any<float>,
          pack_a_panel_avx2_f32()};
}
GemmKernels<double> gemm_kernels_avx2_f64() {
  return {avx2::kMR,           8,            avx2::kTile<double, false>,
          avx2::kTile<double, true>, avx2::kDotMR, avx2::kDotNR, avx2::dot_any<double>,
          pack_a_panel_ref<double>};
}

}  // namespace pyfrozen::detail
