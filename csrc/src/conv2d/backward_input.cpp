// conv2d_backward_input: dx = dy * w^T. Depthwise goes to the direct kernels; 1x1
// stride-1 is one GEMM per group straight into dx; the rest computes a tile of patch
// gradients (dy tile x w^T) into a per-thread buffer and scatter-adds it (col2im).
#include <algorithm>

#include "conv2d/depthwise.hpp"
#include "conv2d/gemm_conv.hpp"
#include "parallel.hpp"
#include "scratch.hpp"
#include "pyfrozen/conv2d.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/gemm.hpp"

namespace pyfrozen {
namespace detail {
namespace {

// dx of image ni: zero it, then add each tile's patch gradients.
template <typename T>
void backward_input_image(const ConvGeom& g, const T* dy, const T* w, T* dx, i64 ni, i64 tm) {
  const i64 k = g.k(), per_image = g.oh * g.ow;
  std::fill(dx + ni * g.h * g.w * g.c, dx + (ni + 1) * g.h * g.w * g.c, T(0));
  for (i64 p = ni * per_image; p < (ni + 1) * per_image; p += tm) {
    const i64 rows = std::min(tm, (ni + 1) * per_image - p);
    T* col = scratch<T>(ScratchSlot::op_0, rows * k);
    for (i64 gi = 0; gi < g.groups; ++gi) {
      // col (rows x k) = dy[:, group] (rows x cog) * w_group^T (cog x k)
      gemm<T>(false, true, rows, k, g.cog, T(1), dy + p * g.co + gi * g.cog, g.co,
              w + gi * g.cog, g.co, T(0), col, k);
      col2im_tile(g, col, p, rows, gi * g.kc, dx);
    }
  }
}

template <typename T>
void gemm_backward_input(const ConvGeom& g, const T* dy, const T* w, T* dx) {
  if (g.pointwise()) {  // dx[:, group] = dy[:, group] * w_group^T, no patches at all
    for (i64 gi = 0; gi < g.groups; ++gi)
      gemm<T>(false, true, g.pixels(), g.kc, g.cog, T(1), dy + gi * g.cog, g.co, w + gi * g.cog,
              g.co, T(0), dx + gi * g.kc, g.c);
    return;
  }
  // Tasks are whole images: tiles of one image scatter into overlapping dx rows. With
  // fewer images than threads, images run one after another and each GEMM uses the team.
  const int want = threads_for(2.0 * static_cast<double>(g.macs()), kConvSerialFlops);
  const int nt = g.n >= want ? want : 1;
  const i64 tm = conv_tile_rows(g.k(), sizeof(T), g.oh * g.ow, 1);
  ErrorSlot err;
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 ni = 0; ni < g.n; ++ni) {
      if (err.failed()) continue;
      try {
        backward_input_image(g, dy, w, dx, ni, tm);
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
void conv2d_backward_input(const Conv2dShape& shape, const Conv2dParams& params, const T* dy,
                           const T* w, T* dx) {
  using namespace detail;
  const ConvGeom g = make_geom("conv2d_backward_input", shape, params);
  count_kernel(g.depthwise() ? "depthwise_conv2d" : "conv2d", Pass::backward_input, g.macs());
  if (g.n == 0) return;
  if (g.depthwise())
    depthwise_backward_input(g, dy, w, dx);
  else
    gemm_backward_input(g, dy, w, dx);
}

template PYFROZEN_API void conv2d_backward_input<float>(const Conv2dShape&, const Conv2dParams&,
                                                        const float*, const float*, float*);
template PYFROZEN_API void conv2d_backward_input<double>(const Conv2dShape&, const Conv2dParams&,
                                                         const double*, const double*, double*);

}  // namespace pyfrozen
