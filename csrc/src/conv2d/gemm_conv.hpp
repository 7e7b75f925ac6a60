#pragma once
// Private: the pieces of the GEMM-based convolution paths. A tile is a range of rows of
// the flattened (n, oh, ow) output pixels; im2col writes one tile's patches (columns
// ordered (kh, kw, ci), the row order of an HWIO kernel) into a per-thread buffer, so
// no whole-batch patch matrix ever exists.
#include <algorithm>
#include <cstring>

#include "conv2d/geometry.hpp"
#include "pyfrozen/runtime.hpp"

namespace pyfrozen::detail {

/// Rows per tile: a patch tile of about a quarter of L2, at least 24 rows (several GEMM
/// micro-tiles), and small enough that `nt` threads get ~4 tiles each.
inline i64 conv_tile_rows(i64 k, i64 elem_size, i64 total_rows, int nt) {
  const i64 l2_rows = cache_sizes().l2 / 4 / std::max<i64>(1, k * elem_size);
  i64 rows = std::clamp<i64>(l2_rows, 24, 1024);
  if (nt > 1) rows = std::min(rows, std::max<i64>(24, total_rows / (4 * nt)));
  return std::max<i64>(1, rows);
}

/// Walks flattened output pixels p0, p0 + 1, ... as (n, oh, ow).
struct PixelIter {
  i64 n, oh, ow;
  PixelIter(const ConvGeom& g, i64 p) : n(p / (g.oh * g.ow)), oh(p / g.ow % g.oh), ow(p % g.ow) {}
  void next(const ConvGeom& g) {
    if (++ow == g.ow) {
      ow = 0;
      if (++oh == g.oh) oh = 0, ++n;
    }
  }
};

/// col[r][(kh, kw, ci)] = x[n, ih, iw, c0 + ci] (0 in the padding) for the `rows` output
/// pixels from p0; ci < kc. col has rows x k() elements, row-major.
template <typename T>
void im2col_tile(const ConvGeom& g, const T* x, i64 p0, i64 rows, i64 c0, T* col) {
  const i64 kc = g.kc;
  PixelIter it(g, p0);
  for (i64 r = 0; r < rows; ++r, it.next(g)) {
    T* dst = col + r * g.k();
    for (i64 a = 0; a < g.kh; ++a) {
      const i64 ih = it.oh * g.sh + a * g.dh - g.pt;
      if (ih < 0 || ih >= g.h) {
        std::fill(dst, dst + g.kw * kc, T(0));
        dst += g.kw * kc;
        continue;
      }
      const T* src_row = x + ((it.n * g.h + ih) * g.w) * g.c + c0;
      for (i64 b = 0; b < g.kw; ++b, dst += kc) {
        const i64 iw = it.ow * g.sw + b * g.dw - g.pl;
        if (iw < 0 || iw >= g.w)
          std::fill(dst, dst + kc, T(0));
        else
          std::memcpy(dst, src_row + iw * g.c, static_cast<size_t>(kc) * sizeof(T));
      }
    }
  }
}

/// The transpose of im2col_tile: dx[n, ih, iw, c0 + ci] += col[r][(kh, kw, ci)] for taps
/// inside the input (padding taps are dropped).
template <typename T>
void col2im_tile(const ConvGeom& g, const T* col, i64 p0, i64 rows, i64 c0, T* dx) {
  const i64 kc = g.kc;
  PixelIter it(g, p0);
  for (i64 r = 0; r < rows; ++r, it.next(g)) {
    const T* src = col + r * g.k();
    for (i64 a = 0; a < g.kh; ++a, src += g.kw * kc) {
      const i64 ih = it.oh * g.sh + a * g.dh - g.pt;
      if (ih < 0 || ih >= g.h) continue;
      T* dst_row = dx + ((it.n * g.h + ih) * g.w) * g.c + c0;
      for (i64 b = 0; b < g.kw; ++b) {
        const i64 iw = it.ow * g.sw + b * g.dw - g.pl;
        if (iw < 0 || iw >= g.w) continue;
        T* d = dst_row + iw * g.c;
        const T* s = src + b * kc;
        for (i64 ci = 0; ci < kc; ++ci) d[ci] += s[ci];
      }
    }
  }
}

}  // namespace pyfrozen::detail
