// AVX2 packing of row-major A into the 6-row float micro-panels the 6x16 kernel reads.
// Packing A is a transposition (mr rows -> one mr-value column per k); done one value
// at a time it took a third of a 4608x1152 @ 1152x128 product (an im2col convolution:
// each A value feeds only 128 columns, so the copy is not amortised). Built with
// -mavx2 -mfma like the micro-kernels; everything sits in the `avx2` namespace.
#include <immintrin.h>

#include "gemm/pack.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

constexpr int kRows = 6;          // the float micro-kernel's mr

// One k column: 4 values from `quad`, then 2 from the low or high half of `pair`.
inline void store_low(float* dst, __m128 quad, __m128 pair) {
  _mm_storeu_ps(dst, quad);
  _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), pair);
}
inline void store_high(float* dst, __m128 quad, __m128 pair) {
  _mm_storeu_ps(dst, quad);
  _mm_storeh_pi(reinterpret_cast<__m64*>(dst + 4), pair);
}

// Eight k columns of six rows: an 8x8 transposition with the last two rows absent.
// The six rows advance together, and the next panel's six rows (packed next) are
// fetched meanwhile: each row's run is only kc values, too short for the hardware
// prefetcher (4608x1152 @ 1152x128: 84 -> 97 GFLOP/s; prefetching further along
// the same rows did not help).
void pack_eight(const float* src, std::int64_t ld, float* dst) {
  __m256 r[kRows];
  for (int i = 0; i < kRows; ++i) {
    r[i] = _mm256_loadu_ps(src + i * ld);
    __builtin_prefetch(src + (kRows + i) * ld, 0, 3);
  }
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 ef0 = _mm256_unpacklo_ps(r[4], r[5]), ef1 = _mm256_unpackhi_ps(r[4], r[5]);
  // abcd_k holds rows 0-3 of columns k (low lane) and k + 4 (high lane).
  const __m256 abcd0 = _mm256_shuffle_ps(t0, t2, 0x44), abcd1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 abcd2 = _mm256_shuffle_ps(t1, t3, 0x44), abcd3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m128 e0 = _mm256_castps256_ps128(ef0), e1 = _mm256_castps256_ps128(ef1);
  const __m128 e4 = _mm256_extractf128_ps(ef0, 1), e5 = _mm256_extractf128_ps(ef1, 1);
  store_low(dst + 0 * kRows, _mm256_castps256_ps128(abcd0), e0);
  store_high(dst + 1 * kRows, _mm256_castps256_ps128(abcd1), e0);
  store_low(dst + 2 * kRows, _mm256_castps256_ps128(abcd2), e1);
  store_high(dst + 3 * kRows, _mm256_castps256_ps128(abcd3), e1);
  store_low(dst + 4 * kRows, _mm256_extractf128_ps(abcd0, 1), e4);
  store_high(dst + 5 * kRows, _mm256_extractf128_ps(abcd1, 1), e4);
  store_low(dst + 6 * kRows, _mm256_extractf128_ps(abcd2, 1), e5);
  store_high(dst + 7 * kRows, _mm256_extractf128_ps(abcd3, 1), e5);
}

void pack_a_panel(const float* src, std::int64_t ld, std::int64_t kc, int rows, int mr,
                  float* dst) {
  if (rows != kRows || mr != kRows) return pack_a_panel_ref(src, ld, kc, rows, mr, dst);
  std::int64_t k = 0;
  for (; k + 8 <= kc; k += 8) pack_eight(src + k, ld, dst + k * kRows);
  for (; k < kc; ++k)
    for (int r = 0; r < kRows; ++r) dst[k * kRows + r] = src[r * ld + k];
}

}  // namespace
}  // namespace avx2

PackAPanel<float> pack_a_panel_avx2_f32() { return avx2::pack_a_panel; }

}  // namespace pyfrozen::detail
