// conv2d_forward: depthwise goes to the direct kernels; everything else is GEMM on tiles
// of output pixels (1x1 stride-1 convolutions read x in place, the rest im2col a tile
// into a per-thread buffer), with the epilogue applied to each tile while it is in cache.
#include <algorithm>
#include <optional>

#include "conv2d/depthwise.hpp"
#include "conv2d/epilogue.hpp"
#include "conv2d/gemm_conv.hpp"
#include "conv2d/small_cin.hpp"
#include "gemm/packed_b.hpp"
#include "parallel.hpp"
#include "scratch.hpp"
#include "pyfrozen/conv2d.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/gemm.hpp"

namespace pyfrozen {
namespace detail {
namespace {

// wpack: the weights packed once for every tile (one group), or null (packed per tile).
template <typename T>
void forward_tile(const ConvGeom& g, const T* x, const T* w, const PackedB<T>* wpack, T* y,
                  const Conv2dEpilogue<T>& ep, i64 p0, i64 rows) {
  const i64 k = g.k();
  T* col = g.pointwise() ? nullptr : scratch<T>(ScratchSlot::op_0, rows * k);
  for (i64 gi = 0; gi < g.groups; ++gi) {
    const T* a = x + p0 * g.c + gi * g.kc;  // 1x1 stride 1: the tile of x is A
    i64 lda = g.c;
    if (col != nullptr) {
      im2col_tile(g, x, p0, rows, gi * g.kc, col);
      a = col;
      lda = k;
    }
    if (wpack != nullptr)
      gemm_packed_b(rows, a, lda, *wpack, y + p0 * g.co, g.co);
    else
      gemm<T>(false, false, rows, g.cog, k, T(1), a, lda, w + gi * g.cog, g.co, T(0),
              y + p0 * g.co + gi * g.cog, g.co);
  }
  apply_epilogue(ep, y + p0 * g.co, rows, g.co);
}

template <typename T>
void gemm_forward(const ConvGeom& g, const T* x, const T* w, T* y, const Conv2dEpilogue<T>& ep) {
  const i64 total = g.pixels();
  const int nt = threads_for(2.0 * static_cast<double>(g.macs()), kConvSerialFlops);
  const i64 tm = conv_tile_rows(g.k(), sizeof(T), total, nt);
  const i64 n_tiles = (total + tm - 1) / tm;
  // Every tile multiplies by the same weights: with one group they are packed once here
  // (the calling thread's buffer, read by all) instead of once per tile.
  std::optional<PackedB<T>> wpack;
  if (g.groups == 1 && n_tiles > 1) wpack = pack_b_once(false, g.k(), g.co, w, g.co);
  ErrorSlot err;
  // Each thread runs whole tiles; the GEMM inside sees an active region and stays serial.
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 t = 0; t < n_tiles; ++t) {
      if (err.failed()) continue;
      try {
        forward_tile(g, x, w, wpack ? &*wpack : nullptr, y, ep, t * tm,
                     std::min(tm, total - t * tm));
      } catch (...) {
        err.capture();
      }
    }
  });
  err.rethrow();
}

}  // namespace
}  // namespace detail

template <typename T>
void conv2d_forward(const Conv2dShape& shape, const Conv2dParams& params, const T* x, const T* w,
                    T* y, const Conv2dEpilogue<T>& epilogue) {
  using namespace detail;
  const ConvGeom g = make_geom("conv2d_forward", shape, params);
  count_kernel(g.depthwise() ? "depthwise_conv2d" : "conv2d", Pass::forward, g.macs());
  if (g.n == 0) return;
  if (g.depthwise())
    depthwise_forward(g, x, w, y, epilogue);
  else if (small_cin(g))
    small_cin_forward(g, x, w, y, epilogue);
  else
    gemm_forward(g, x, w, y, epilogue);
}

template PYFROZEN_API void conv2d_forward<float>(const Conv2dShape&, const Conv2dParams&,
                                                 const float*, const float*, float*,
                                                 const Conv2dEpilogue<float>&);
template PYFROZEN_API void conv2d_forward<double>(const Conv2dShape&, const Conv2dParams&,
                                                  const double*, const double*, double*,
                                                  const Conv2dEpilogue<double>&);

}  // namespace pyfrozen
