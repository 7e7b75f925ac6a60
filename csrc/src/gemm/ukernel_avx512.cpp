// AVX-512 micro-kernels: 12x32 (float) and 12x16 (double) register tiles (the tile
// itself: register_tile.hpp, shared with AVX2).
// 32 zmm registers hold 24 accumulators, two B vectors and a broadcast: twice the
// AVX2 tile's rows, so each B load feeds 12 FMAs instead of 6 and each k step is
// half the instructions (on Zen 4 a 512-bit FMA is two 256-bit halves, so the peak
// is AVX2's; the gain is in loads and front end). Built with the AVX-512 flags; all
// but the entry points stay in the anonymous namespace inside `avx512`.
#include <immintrin.h>

#include "avx512_vec.hpp"
#include "gemm/kernels.hpp"
#include "gemm/register_tile.hpp"

namespace pyfrozen::detail {
namespace avx512 {
namespace {

constexpr int kMR = 12;

template <typename T, bool kStrided>
constexpr TileKernel<T> kTile = register_tile::tile_any<Z<T>, kMR, T, kStrided>;

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

// `kern` (the AVX2 table) with this file's tiles and A packing: two vectors wide, kMR
// rows, and a K block of 2x L1 (see below).
template <typename T>
GemmKernels<T> with_wide_tiles(GemmKernels<T> kern, PackAPanel<T> pack) {
  kern.mr = kMR;
  kern.nr = 2 * Z<T>::W;
  kern.tile = kTile<T, false>;
  kern.tile_strided = kTile<T, true>;
  kern.pack_a_panel = pack;
  kern.panels_share = 2.0;
  return kern;
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
  return avx512::with_wide_tiles(gemm_kernels_avx2_f32(), avx512::pack_a_panel);
}
GemmKernels<double> gemm_kernels_avx512_f64() {
  return avx512::with_wide_tiles(gemm_kernels_avx2_f64(), pack_a_panel_ref<double>);
}

}  // namespace pyfrozen::detail
