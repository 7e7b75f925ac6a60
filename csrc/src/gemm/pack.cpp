#include "gemm/pack.hpp"

#include "gemm/row_tiles.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace pyfrozen::detail {

template <typename T>
void pack_a_panel_ref(const T* src, std::int64_t ld, std::int64_t kc, int rows, int mr, T* dst) {
  // The rows advance together a block of columns at a time, so their memory streams
  // overlap, and the next panel's rows are fetched meanwhile (see pack_avx2.cpp).
  constexpr std::int64_t kBlock = 64, kLine = 64 / sizeof(T);
  for (std::int64_t k0 = 0; k0 < kc; k0 += kBlock) {
    const std::int64_t k1 = std::min(kc, k0 + kBlock);
    for (int r = 0; r < rows; ++r) {
      for (std::int64_t k = k0; k < k1; k += kLine) __builtin_prefetch(src + (mr + r) * ld + k, 0, 3);
      for (std::int64_t k = k0; k < k1; ++k) dst[k * mr + r] = src[r * ld + k];
    }
  }
}

namespace {

// A stored k x m (op(A) = A^T): row k of A holds value k of every panel's rows.
// kCopyRows is the kernel table's mr (6: AVX2 and reference, 12: AVX-512), a constant
// so each copy below is a few vector moves; another mr takes the general loop only.
template <int kCopyRows, typename T>
void pack_a_trans(const MatView<T>& a, std::int64_t i0, std::int64_t k0, std::int64_t kc,
                  const RowTiles& tiles, T* dst) {
  const int mr = tiles.mr;
  // Leading tiles of mr rows at p * mr are copied k row by k row: each row of A is read
  // once, left to right, and a copy of a size known here is a few vector moves (one
  // value at a time and panel by panel, the strided reads stalled: 7% of a
  // 256 x 4608 @ 4608 x 256 weight gradient).
  std::int64_t whole = mr == kCopyRows ? tiles.count() : 0;
  while (whole > 0 && (tiles.rows(whole - 1) != mr || tiles.start(whole - 1) != (whole - 1) * mr))
    --whole;
  for (std::int64_t k = 0; k < kc; ++k) {
    const T* src = a.data + (k0 + k) * a.ld + i0;
    for (std::int64_t p = 0; p < whole; ++p)
      std::memcpy(dst + p * kCopyRows * kc + k * kCopyRows, src + p * kCopyRows,
                  kCopyRows * sizeof(T));
  }
  for (std::int64_t p = whole; p < tiles.count(); ++p) {
    const std::int64_t rows = tiles.rows(p), row0 = i0 + tiles.start(p);
    T* panel = dst + p * mr * kc;
    for (std::int64_t k = 0; k < kc; ++k) {
      const T* src = a.data + (k0 + k) * a.ld + row0;
      for (std::int64_t r = 0; r < rows; ++r) panel[k * mr + r] = src[r];
    }
  }
}

}  // namespace

template <typename T>
void pack_a(const MatView<T>& a, std::int64_t i0, std::int64_t k0, std::int64_t mc,
            std::int64_t kc, int mr, PackAPanel<T> panel_fn, T* dst) {
  const RowTiles tiles{mc, mr};
  if (a.trans && mr == 12) return pack_a_trans<12>(a, i0, k0, kc, tiles, dst);
  if (a.trans) return pack_a_trans<6>(a, i0, k0, kc, tiles, dst);
  for (std::int64_t p = 0; p < tiles.count(); ++p) {  // A stored m x k: a transposition
    const std::int64_t row0 = i0 + tiles.start(p);
    panel_fn(a.data + row0 * a.ld + k0, a.ld, kc, tiles.rows(p), mr, dst + p * mr * kc);
  }
}

namespace {

// NR values as 64-byte copies, each a few vector moves inline. A 128-byte row of a
// 32-wide panel (AVX-512 float) copied in one piece became a call to memmove per row
// and panel: 2.5 % of a MobileNet training step on Zen 4.
template <int NR, typename T>
inline void copy_row(T* __restrict dst, const T* __restrict src) {
  constexpr int kChunk = 64 / sizeof(T) < NR ? 64 / sizeof(T) : NR;
  for (int j = 0; j < NR; j += kChunk) std::memcpy(dst + j, src + j, kChunk * sizeof(T));
}

// Row-major B: walk each k row left to right across all panels, so memory is read
// in long sequential runs the hardware prefetchers follow (panel by panel, a row's
// 64 bytes sit a full pitch from the next row's and the loads stall: measured as 40%
// of a 32x4096x1000 product). NR is a constant so each piece is a few vector moves.
template <int NR, typename T>
void pack_b_rows(const T* __restrict src, std::int64_t ld, std::int64_t kc, std::int64_t n,
                 T* __restrict dst) {
  const std::int64_t full = n / NR, tail = n - full * NR;
  for (std::int64_t k = 0; k < kc; ++k, src += ld) {
    T* out = dst + k * NR;
    for (std::int64_t p = 0; p < full; ++p) copy_row<NR>(out + p * NR * kc, src + p * NR);
    if (tail) {
      T* last = out + full * NR * kc;
      for (std::int64_t j = 0; j < tail; ++j) last[j] = src[full * NR + j];
      std::fill(last + tail, last + NR, T(0));
    }
  }
}

// op(B) = B^T with B stored n x k (a layer's weights in dX = dY W^T): kGroup columns of
// op(B) (rows of B) at a time, k outermost, so the group's rows are read as kGroup
// sequential streams and each k writes kGroup adjacent values. Column by column, every
// write went to its own line a panel row apart, and a K block of those lines left L1.
template <typename T>
void pack_b_trans(const T* __restrict src, std::int64_t ld, std::int64_t kc, std::int64_t n,
                  int nr, T* __restrict dst) {
  constexpr int kGroup = 8;
  std::int64_t j = 0;
  for (; j + kGroup <= n && (j % nr) + kGroup <= nr; j += kGroup) {
    const T* rows = src + j * ld;
    T* panel = dst + (j / nr) * nr * kc + j % nr;
    for (std::int64_t k = 0; k < kc; ++k)
      for (int g = 0; g < kGroup; ++g) panel[k * nr + g] = rows[g * ld + k];
  }
  for (; j < n; ++j) {
    const T* row = src + j * ld;
    T* panel = dst + (j / nr) * nr * kc + j % nr;
    for (std::int64_t k = 0; k < kc; ++k) panel[k * nr] = row[k];
  }
}

}  // namespace

template <typename T>
void pack_b(const MatView<T>& b, std::int64_t k0, std::int64_t j0, std::int64_t kc,
            std::int64_t n, int nr, T* dst) {
  if (!b.trans) {
    const T* src = b.data + k0 * b.ld + j0;
    if (nr == 32) return pack_b_rows<32>(src, b.ld, kc, n, dst);
    if (nr == 16) return pack_b_rows<16>(src, b.ld, kc, n, dst);
    if (nr == 8) return pack_b_rows<8>(src, b.ld, kc, n, dst);
    throw std::logic_error("pack_b: unsupported panel width");
  }
  // B stored n x k: each column of op(B) is a contiguous run of k values.
  pack_b_trans(b.data + j0 * b.ld + k0, b.ld, kc, n, nr, dst);
  if (const std::int64_t tail = n % nr) {
    T* last = dst + (n / nr) * nr * kc;
    for (std::int64_t k = 0; k < kc; ++k) std::fill(last + k * nr + tail, last + (k + 1) * nr, T(0));
  }
}

template <typename T>
void pack_rows(const MatView<T>& a, std::int64_t m, std::int64_t k, T* dst) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t kk = 0; kk < k; ++kk)
      dst[i * k + kk] = a.trans ? a.data[kk * a.ld + i] : a.data[i * a.ld + kk];
}

#define PYFROZEN_INSTANTIATE_PACK(T)                                                       \
  template void pack_a_panel_ref<T>(const T*, std::int64_t, std::int64_t, int, int, T*);  \
  template void pack_a<T>(const MatView<T>&, std::int64_t, std::int64_t, std::int64_t,     \
                          std::int64_t, int, PackAPanel<T>, T*);                           \
  template void pack_b<T>(const MatView<T>&, std::int64_t, std::int64_t, std::int64_t,     \
                          std::int64_t, int, T*);                                          \
  template void pack_rows<T>(const MatView<T>&, std::int64_t, std::int64_t, T*);
PYFROZEN_INSTANTIATE_PACK(float)
PYFROZEN_INSTANTIATE_PACK(double)
#undef PYFROZEN_INSTANTIATE_PACK

}  // namespace pyfrozen::detail
