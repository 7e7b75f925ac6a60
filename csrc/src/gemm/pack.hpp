#pragma once
// Private: copy blocks of op(A) / op(B) into the micro-panel layouts the kernels read.
#include <cstdint>

namespace pyfrozen::detail {

/// op(X) of a row-major matrix: element (i, j) is x[i*ld + j], or x[j*ld + i] if trans.
template <typename T>
struct MatView {
  const T* data;
  std::int64_t ld;
  bool trans;
};

/// One micro-panel of row-major A: dst[k*mr + r] = src[r*ld + k] for r < rows, k < kc.
/// A kernel-table entry (kernels.hpp): the AVX2 float one transposes 6x8 blocks.
template <typename T>
using PackAPanel = void (*)(const T* src, std::int64_t ld, std::int64_t kc, int rows, int mr,
                            T* dst);

/// The portable PackAPanel: every ISA path's fallback.
template <typename T>
void pack_a_panel_ref(const T* src, std::int64_t ld, std::int64_t kc, int rows, int mr, T* dst);

/// The AVX2 float PackAPanel (pack_avx2.cpp); full 6-row panels, others via the ref one.
PackAPanel<float> pack_a_panel_avx2_f32();

/// Packs rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) into the micro-panels of
/// RowTiles{mc, mr}: panel p at dst + p*mr*kc, mr values per k of which the first
/// rows(p) are set (the kernels never read the others). Row-major A goes through
/// `panel` (the active path's PackAPanel).
template <typename T>
void pack_a(const MatView<T>& a, std::int64_t i0, std::int64_t k0, std::int64_t mc,
            std::int64_t kc, int mr, PackAPanel<T> panel, T* dst);

/// Packs rows [k0, k0+kc) x cols [j0, j0+n) of op(B) into ceil(n/nr) micro-panels,
/// panel p at dst + p*nr*kc holding nr values per k; the last panel's missing columns
/// are zero (kernels read all nr).
template <typename T>
void pack_b(const MatView<T>& b, std::int64_t k0, std::int64_t j0, std::int64_t kc,
            std::int64_t n, int nr, T* dst);

/// Copies op(A) rows [0, m) x cols [0, k) into a dense m x k row-major buffer.
template <typename T>
void pack_rows(const MatView<T>& a, std::int64_t m, std::int64_t k, T* dst);

}  // namespace pyfrozen::detail
