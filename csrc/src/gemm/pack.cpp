#include "gemm/pack.hpp"

#include "gemm/row_tiles.hpp"

#include <algorithm>
#include <cstring>

namespace pyfrozen::detail {

template <typename T>
void pack_a(const MatView<T>& a, std::int64_t i0, std::int64_t k0, std::int64_t mc,
            std::int64_t kc, int mr, T* dst) {
  const RowTiles tiles{mc, mr};
  for (std::int64_t p = 0; p < tiles.count(); ++p) {
    const std::int64_t rows = tiles.rows(p);
    const std::int64_t row0 = i0 + tiles.start(p);
    T* panel = dst + p * mr * kc;
    if (a.trans) {  // A stored k x m: the mr values of one k are contiguous
      for (std::int64_t k = 0; k < kc; ++k) {
        const T* src = a.data + (k0 + k) * a.ld + row0;
        for (std::int64_t r = 0; r < rows; ++r) panel[k * mr + r] = src[r];
      }
    } else {  // A stored m x k: read each row contiguously
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* src = a.data + (row0 + r) * a.ld + k0;
        for (std::int64_t k = 0; k < kc; ++k) panel[k * mr + r] = src[k];
      }
    }
  }
}

namespace {

// One full panel of a row-major B: a fixed-width copy per k row (a memcpy call per
// 64-byte row costs as much as the copy). Panels are packed left to right, so this
// row's piece of the next panel is prefetched now and arrives while this one is
// multiplied (rows a full pitch apart are followed poorly by the hardware prefetchers;
// a prefetch never faults, even past the end of B).
template <int NR, typename T>
void copy_full_panel(const T* src, std::int64_t ld, std::int64_t kc, T* dst) {
  for (std::int64_t k = 0; k < kc; ++k, src += ld, dst += NR) {
    __builtin_prefetch(src + NR);
    for (int j = 0; j < NR; ++j) dst[j] = src[j];
  }
}

}  // namespace

template <typename T>
void pack_b_panel(const MatView<T>& b, std::int64_t k0, std::int64_t j0, std::int64_t kc, int n,
                  int nr, T* dst) {
  if (!b.trans) {  // B stored k x n: each k row of the panel is a contiguous run
    const T* src = b.data + k0 * b.ld + j0;
    if (n == 16 && nr == 16) return copy_full_panel<16>(src, b.ld, kc, dst);
    if (n == 8 && nr == 8) return copy_full_panel<8>(src, b.ld, kc, dst);
    for (std::int64_t k = 0; k < kc; ++k) {
      T* out = dst + k * nr;
      std::memcpy(out, src + k * b.ld, sizeof(T) * static_cast<size_t>(n));
      std::fill(out + n, out + nr, T(0));
    }
    return;
  }
  for (int j = 0; j < n; ++j) {  // B stored n x k: read each column of op(B) contiguously
    const T* src = b.data + (j0 + j) * b.ld + k0;
    for (std::int64_t k = 0; k < kc; ++k) dst[k * nr + j] = src[k];
  }
  if (n < nr)
    for (std::int64_t k = 0; k < kc; ++k) std::fill(dst + k * nr + n, dst + (k + 1) * nr, T(0));
}

template <typename T>
void pack_rows(const MatView<T>& a, std::int64_t m, std::int64_t k, T* dst) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t kk = 0; kk < k; ++kk)
      dst[i * k + kk] = a.trans ? a.data[kk * a.ld + i] : a.data[i * a.ld + kk];
}

#define PYFROZEN_INSTANTIATE_PACK(T)                                                       \
  template void pack_a<T>(const MatView<T>&, std::int64_t, std::int64_t, std::int64_t,     \
                          std::int64_t, int, T*);                                          \
  template void pack_b_panel<T>(const MatView<T>&, std::int64_t, std::int64_t, std::int64_t, \
                                int, int, T*);                                             \
  template void pack_rows<T>(const MatView<T>&, std::int64_t, std::int64_t, T*);
PYFROZEN_INSTANTIATE_PACK(float)
PYFROZEN_INSTANTIATE_PACK(double)
#undef PYFROZEN_INSTANTIATE_PACK

}  // namespace pyfrozen::detail
