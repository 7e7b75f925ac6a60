// Portable scalar micro-kernels: the fallback every CPU runs and the oracle the
// AVX2 kernels are tested against. Same micro-tile shape as AVX2 so both paths
// share the packing and the driver.
#include "gemm/kernels.hpp"

namespace pyfrozen::detail {
namespace {

constexpr int kMR = 6;
constexpr int kDotMR = 4;
constexpr int kDotNR = 3;

template <typename T>
void store(T* c, T value, T alpha, T beta) {
  *c = beta == T(0) ? alpha * value : alpha * value + beta * *c;  // beta == 0: C not read
}

template <typename T, int NR, bool kStrided>
void tile_ref(std::int64_t kc, const T* a, std::int64_t a_rs, std::int64_t a_cs, const T* b,
              std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha, T beta) {
  const std::int64_t rs = kStrided ? a_rs : 1, cs = kStrided ? a_cs : kMR;
  T acc[kMR][NR] = {};
  for (std::int64_t k = 0; k < kc; ++k, a += cs, b += ldb)
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i * rs] * b[j];
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) store(c + i * ldc + j, acc[i][j], alpha, beta);
}

template <typename T>
void dot_ref(std::int64_t k, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
             std::int64_t ldc, int m, int n, T alpha, T beta) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      T s = 0;
      for (std::int64_t kk = 0; kk < k; ++kk) s += a[i * lda + kk] * b[j * ldb + kk];
      store(c + i * ldc + j, s, alpha, beta);
    }
}

}  // namespace

GemmKernels<float> gemm_kernels_ref_f32() {
  return {kMR, 16, tile_ref<float, 16, false>, tile_ref<float, 16, true>, kDotMR, kDotNR,
          dot_ref<float>, pack_a_panel_ref<float>};
}
GemmKernels<double> gemm_kernels_ref_f64() {
  return {kMR, 8, tile_ref<double, 8, false>, tile_ref<double, 8, true>, kDotMR, kDotNR,
          dot_ref<double>, pack_a_panel_ref<double>};
}

}  // namespace pyfrozen::detail
