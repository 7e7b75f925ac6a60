// AVX-512 micro-kernels: 12x32 (float) and 12x16 (double) register tiles.
// 32 zmm registers hold 24 accumulators, two B vectors and a broadcast: twice the
// AVX2 tile's rows, so each B load feeds 12 FMAs instead of 6 and each k step is
// half the instructions (on Zen 4 a 512-bit FMA is two 256-bit halves, so the peak
// is AVX2's; the gain is in loads and front end). Built with the AVX-512 flags; all
// but the entry points stay in the anonymous namespace inside `avx512`.
#include <immintrin.h>

#include "avx512_vec.hpp"
#include "gemm/kernels.hpp"

namespace pyfrozen::detail {
namespace avx512 {
namespace {

constexpr int kMR = 12;

// C[0 .. n) = alpha * acc + beta * C for one vector of a row, the tail masked.
template <typename T>
inline void store_vec(typename Z<T>::R acc, T* c, int n, T alpha, T beta) {
  using V = Z<T>;
  if (n <= 0) return;
  auto r = V::mul(V::set1(alpha), acc);
  if (n >= V::W) {
    if (beta != T(0)) r = V::fma(V::set1(beta), V::load(c), r);  // beta == 0: C not read
    V::store(c, r);
  } else {
    const auto m = V::mask(n);
    if (beta != T(0)) r = V::fma(V::set1(beta), V::mload(c, m), r);
    V::mstore(c, m, r);
  }
}

// M x (NV*W) register tile, as the AVX2 one (ukernel_avx2.cpp): row i of A at step
// k is a[i*rs + k*cs], packed (rs = 1, cs = kMR) or in place (kStrided). Named
// accumulators, for the reason given there. Rows 6-11 are read from a second pointer
// so both halves share five row offsets: twelve offsets of a strided A ran out of
// general registers and reloaded three from the stack at every step.
#define PYFROZEN_ROW(i)                                                   \
  if constexpr (M > i) {                                                  \
    const R ai = V::set1((i < 6 ? a : a6)[(i % 6) * rs]);                 \
    c##i##0 = V::fma(ai, b0, c##i##0);                                    \
    if constexpr (NV > 1) c##i##1 = V::fma(ai, b1, c##i##1);              \
  }
#define PYFROZEN_STORE(i)                                                 \
  if constexpr (M > i) {                                                  \
    store_vec<T>(c##i##0, c + i * ldc, n, alpha, beta);                   \
    if constexpr (NV > 1) store_vec<T>(c##i##1, c + i * ldc + V::W, n - V::W, alpha, beta); \
  }
#define PYFROZEN_ZERO(i) R c##i##0 = V::zero(), c##i##1 = V::zero();

template <typename T, int M, int NV, bool kStrided>
void tile(std::int64_t kc, const T* a, std::int64_t a_rs, std::int64_t a_cs, const T* b,
          std::int64_t ldb, T* c, std::int64_t ldc, int n, T alpha, T beta) {
  using V = Z<T>;
  using R = typename V::R;
  const std::int64_t rs = kStrided ? a_rs : 1, cs = kStrided ? a_cs : kMR;
  PYFROZEN_ZERO(0) PYFROZEN_ZERO(1) PYFROZEN_ZERO(2) PYFROZEN_ZERO(3)
  PYFROZEN_ZERO(4) PYFROZEN_ZERO(5) PYFROZEN_ZERO(6) PYFROZEN_ZERO(7)
  PYFROZEN_ZERO(8) PYFROZEN_ZERO(9) PYFROZEN_ZERO(10) PYFROZEN_ZERO(11)
  const T* a6 = a + 6 * rs;
  for (std::int64_t k = 0; k < kc; ++k, a += cs, a6 += cs, b += ldb) {
    const R b0 = V::load(b);
    const R b1 = NV > 1 ? V::load(b + V::W) : b0;
    PYFROZEN_ROW(0) PYFROZEN_ROW(1) PYFROZEN_ROW(2) PYFROZEN_ROW(3)
    PYFROZEN_ROW(4) PYFROZEN_ROW(5) PYFROZEN_ROW(6) PYFROZEN_ROW(7)
    PYFROZEN_ROW(8) PYFROZEN_ROW(9) PYFROZEN_ROW(10) PYFROZEN_ROW(11)
  }
  PYFROZEN_STORE(0) PYFROZEN_STORE(1) PYFROZEN_STORE(2) PYFROZEN_STORE(3)
  PYFROZEN_STORE(4) PYFROZEN_STORE(5) PYFROZEN_STORE(6) PYFROZEN_STORE(7)
  PYFROZEN_STORE(8) PYFROZEN_STORE(9) PYFROZEN_STORE(10) PYFROZEN_STORE(11)
}
#undef PYFROZEN_ROW
#undef PYFROZEN_STORE
#undef PYFROZEN_ZERO

template <typename T, int NV, bool kStrided, int M = kMR>
void tile_rows(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t cs, const T* b,
               std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha, T beta) {
  if constexpr (M > 1) {
    if (m < M) return tile_rows<T, NV, kStrided, M - 1>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha, beta);
  }
  tile<T, M, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
}

// Edge tiles keep register blocking: any row count up to 12 has its own tile (RowTiles
// never leaves a tile of 1 or 2 rows behind a full one), one vector wide when at most
// W columns remain.
template <typename T, bool kStrided>
void tile_any(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t cs, const T* b,
              std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha, T beta) {
  if (n > Z<T>::W)
    tile_rows<T, 2, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha, beta);
  else
    tile_rows<T, 1, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha, beta);
}

// Eight k columns of twelve rows into dst[k*12 + r]: rows 0-7 as an 8x8 transposition,
// rows 8-11 as a 4x8 one. The next panel's rows are fetched meanwhile (each row's run
// is only kc values, too short for the hardware prefetcher: see pack_avx2.cpp).
void pack_eight(const float* src, std::int64_t ld, float* dst) {
  __m256 r[kMR];
  for (int i = 0; i < kMR; ++i) {
    r[i] = _mm256_loadu_ps(src + i * ld);
    __builtin_prefetch(src + (kMR + i) * ld, 0, 3);
  }
  __m256 s[8];  // s[q], s[q + 4]: rows 4h .. 4h+3 (h = 0, 1) of columns q (low lane), q + 4
  for (int h = 0; h < 2; ++h) {
    const __m256* x = r + 4 * h;
    const __m256 t0 = _mm256_unpacklo_ps(x[0], x[1]), t1 = _mm256_unpackhi_ps(x[0], x[1]);
    const __m256 t2 = _mm256_unpacklo_ps(x[2], x[3]), t3 = _mm256_unpackhi_ps(x[2], x[3]);
    s[4 * h + 0] = _mm256_shuffle_ps(t0, t2, 0x44);
    s[4 * h + 1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    s[4 * h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
    s[4 * h + 3] = _mm256_shuffle_ps(t1, t3, 0xEE);
  }
  const __m256 u0 = _mm256_unpacklo_ps(r[8], r[9]), u1 = _mm256_unpackhi_ps(r[8], r[9]);
  const __m256 u2 = _mm256_unpacklo_ps(r[10], r[11]), u3 = _mm256_unpackhi_ps(r[10], r[11]);
  const __m256 v[4] = {_mm256_shuffle_ps(u0, u2, 0x44), _mm256_shuffle_ps(u0, u2, 0xEE),
                       _mm256_shuffle_ps(u1, u3, 0x44), _mm256_shuffle_ps(u1, u3, 0xEE)};
  for (int q = 0; q < 4; ++q) {
    _mm256_storeu_ps(dst + q * kMR, _mm256_permute2f128_ps(s[q], s[q + 4], 0x20));
    _mm256_storeu_ps(dst + (q + 4) * kMR, _mm256_permute2f128_ps(s[q], s[q + 4], 0x31));
    _mm_storeu_ps(dst + q * kMR + 8, _mm256_castps256_ps128(v[q]));
    _mm_storeu_ps(dst + (q + 4) * kMR + 8, _mm256_extractf128_ps(v[q], 1));
  }
}

void pack_a_panel(const float* src, std::int64_t ld, std::int64_t kc, int rows, int mr,
                  float* dst) {
  if (rows != kMR || mr != kMR) return pack_a_panel_ref(src, ld, kc, rows, mr, dst);
  std::int64_t k = 0;
  for (; k + 8 <= kc; k += 8) pack_eight(src + k, ld, dst + k * kMR);
  for (; k < kc; ++k)
    for (int r = 0; r < kMR; ++r) dst[k * kMR + r] = src[r * ld + k];
}

}  // namespace
}  // namespace avx512

// The AVX2 table with the register tiles and A packing replaced; its small-M dot
// kernel stays (it is bound by reading A and B once, not by the FMAs). A k step of the
// tile is 24 FMAs on 176 bytes of panels, so a K block may be 2x L1 (kc 368 float,
// 288 double for 32 KiB): measured on Zen 4, 1024^3 and 2048^3 went from 72-91 to
// 98-102 GFLOP/s against kc 120 (the 2/3 rule), and 4608x128 @ 128x1152 stopped
// splitting K into 120 + 8.
GemmKernels<float> gemm_kernels_avx512_f32() {
  GemmKernels<float> kern = gemm_kernels_avx2_f32();
  kern.mr = avx512::kMR;
  kern.nr = 32;
  kern.tile = avx512::tile_any<float, false>;
  kern.tile_strided = avx512::tile_any<float, true>;
  kern.pack_a_panel = avx512::pack_a_panel;
  kern.panels_share = 2.0;
  return kern;
}
GemmKernels<double> gemm_kernels_avx512_f64() {
  GemmKernels<double> kern = gemm_kernels_avx2_f64();
  kern.mr = avx512::kMR;
  kern.nr = 16;
  kern.tile = avx512::tile_any<double, false>;
  kern.tile_strided = avx512::tile_any<double, true>;
  kern.pack_a_panel = pack_a_panel_ref<double>;
  kern.panels_share = 2.0;
  return kern;
}

}  // namespace pyfrozen::detail
