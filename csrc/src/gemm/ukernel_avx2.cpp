// AVX2 + FMA micro-kernels: 6x16 (float) and 6x8 (double) register tiles.
// This is one of the few files compiled with -mavx2 -mfma: everything but the two
// entry points stays in the anonymous namespace so no AVX2-compiled copy of a
// shared inline function can be picked by the linker for generic callers.
#include <immintrin.h>

#include "avx2_vec.hpp"
#include "gemm/kernels.hpp"

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

// C[0 .. n) = alpha * acc + beta * C for one vector of a row, the tail masked.
// Accumulators travel by value: taking their address would keep them on the stack.
template <typename T>
inline void store_vec(typename Vec<T>::R acc, T* c, int n, T alpha, T beta) {
  using V = Vec<T>;
  if (n <= 0) return;
  auto r = V::mul(V::set1(alpha), acc);
  if (n >= V::W) {
    if (beta != T(0)) r = V::fma(V::set1(beta), V::load(c), r);  // beta == 0: C not read
    V::store(c, r);
  } else {
    const __m256i m = V::mask(n);
    if (beta != T(0)) r = V::fma(V::set1(beta), V::mload(c, m), r);
    V::mstore(c, m, r);
  }
}

// M x (NV*W) register tile. Row i of A at step k is a[i*rs + k*cs]: a packed
// micro-panel (rs = 1, cs = kMR, constants) or A read in place (kStrided, for a
// product too narrow to repay packing). b advances ldb per k. Twelve named accumulators rather than an array: GCC keeps an array of vectors
// in memory and stores it on every iteration, halving the speed.
#define PYFROZEN_ROW(i)                                                   \
  if constexpr (M > i) {                                                  \
    const R ai = V::bcast(a + i * rs);                                    \
    c##i##0 = V::fma(ai, b0, c##i##0);                                    \
    if constexpr (NV > 1) c##i##1 = V::fma(ai, b1, c##i##1);              \
  }
#define PYFROZEN_STORE(i)                                                 \
  if constexpr (M > i) {                                                  \
    store_vec<T>(c##i##0, c + i * ldc, n, alpha, beta);                   \
    if constexpr (NV > 1) store_vec<T>(c##i##1, c + i * ldc + V::W, n - V::W, alpha, beta); \
  }

template <typename T, int M, int NV, bool kStrided>
void tile(std::int64_t kc, const T* a, std::int64_t a_rs, std::int64_t a_cs, const T* b,
          std::int64_t ldb, T* c, std::int64_t ldc, int n, T alpha, T beta) {
  using V = Vec<T>;
  using R = typename V::R;
  const std::int64_t rs = kStrided ? a_rs : 1, cs = kStrided ? a_cs : kMR;
  // alpha and beta wait in memory: kept in registers across the loop they push
  // an accumulator onto the stack (16 ymm: 12 accumulators, 2 of B, 1 broadcast).
  volatile T scale[2] = {alpha, beta};
  R c00 = V::zero(), c01 = V::zero(), c10 = V::zero(), c11 = V::zero();
  R c20 = V::zero(), c21 = V::zero(), c30 = V::zero(), c31 = V::zero();
  R c40 = V::zero(), c41 = V::zero(), c50 = V::zero(), c51 = V::zero();
  for (std::int64_t k = 0; k < kc; ++k, a += cs, b += ldb) {
    const R b0 = V::load(b);
    const R b1 = NV > 1 ? V::load(b + V::W) : b0;
    PYFROZEN_ROW(0) PYFROZEN_ROW(1) PYFROZEN_ROW(2) PYFROZEN_ROW(3) PYFROZEN_ROW(4) PYFROZEN_ROW(5)
  }
  alpha = scale[0];
  beta = scale[1];
  PYFROZEN_STORE(0) PYFROZEN_STORE(1) PYFROZEN_STORE(2)
  PYFROZEN_STORE(3) PYFROZEN_STORE(4) PYFROZEN_STORE(5)
}
#undef PYFROZEN_ROW
#undef PYFROZEN_STORE

template <typename T, int NV, bool kStrided>
void tile_rows(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t cs, const T* b,
               std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha, T beta) {
  switch (m) {
    case 6: return tile<T, 6, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
    case 5: return tile<T, 5, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
    case 4: return tile<T, 4, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
    case 3: return tile<T, 3, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
    case 2: return tile<T, 2, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
    default: return tile<T, 1, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
  }
}

// Edge tiles keep register blocking: a 4x16 or 2x16 tile for the last rows, one
// vector wide when at most W columns remain; nothing is padded up to 6 rows.
template <typename T, bool kStrided>
void tile_any(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t cs, const T* b,
              std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha, T beta) {
  if (n > Vec<T>::W)
    tile_rows<T, 2, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha, beta);
  else
    tile_rows<T, 1, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha, beta);
}

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
  return {avx2::kMR,          16,           avx2::tile_any<float, false>,
          avx2::tile_any<float, true>, avx2::kDotMR, avx2::kDotNR, avx2::dot_any<float>,
          pack_a_panel_avx2_f32()};
}
GemmKernels<double> gemm_kernels_avx2_f64() {
  return {avx2::kMR,           8,            avx2::tile_any<double, false>,
          avx2::tile_any<double, true>, avx2::kDotMR, avx2::kDotNR, avx2::dot_any<double>,
          pack_a_panel_ref<double>};
}

}  // namespace pyfrozen::detail
