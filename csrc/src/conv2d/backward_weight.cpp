// conv2d_backward_weight: dw = patches^T * dy with K = n * oh * ow, limited to runs of
// selected output channels (a frozen channel costs nothing). 1x1 stride-1 reads x in
// place: one GEMM per run straight into dw. Otherwise each thread takes a fixed range of
// tiles of output pixels, im2cols them (only for groups that have a selected channel)
// and accumulates into its own copy of dw with beta = 1; the copies are summed into dw
// at the end, in thread order, so a given thread count always gives the same bits.
// Also conv2d_backward_bias, the column sums of dy.
#include <algorithm>

#include "conv2d/depthwise.hpp"
#include "conv2d/gemm_conv.hpp"
#include "conv2d/small_cin.hpp"
#include "parallel.hpp"
#include "scratch.hpp"
#include "pyfrozen/conv2d.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/errors.hpp"
#include "pyfrozen/gemm.hpp"

namespace pyfrozen {
namespace detail {
namespace {

// acc (k x co, dw's layout) += patches(tile)^T * dy(tile) on the selected runs.
template <typename T>
void weight_tile(const ConvGeom& g, const T* x, const T* dy, const std::vector<ChannelRun>& runs,
                 i64 p0, i64 rows, T* acc) {
  const i64 k = g.k();
  T* col = scratch<T>(ScratchSlot::op_0, rows * k);
  i64 patched = -1;  // group whose patches col holds
  for (const ChannelRun& run : runs) {
    const i64 gi = run.begin / g.cog;
    if (gi != patched) {
      im2col_tile(g, x, p0, rows, gi * g.kc, col);
      patched = gi;
    }
    gemm<T>(true, false, k, run.end - run.begin, rows, T(1), col, k, dy + p0 * g.co + run.begin,
            g.co, T(1), acc + run.begin, g.co);
  }
}

template <typename T>
void gemm_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw,
                          const std::vector<ChannelRun>& runs, i64 selected) {
  const i64 k = g.k(), total = g.pixels();
  if (g.pointwise()) {
    for (const ChannelRun& run : runs)
      gemm<T>(true, false, k, run.end - run.begin, total, T(1), x + (run.begin / g.cog) * g.kc,
              g.c, dy + run.begin, g.co, T(0), dw + run.begin, g.co);
    return;
  }
  const double flops = 2.0 * static_cast<double>(total * k * selected);
  const int nt = threads_for(flops, kConvSerialFlops);
  const i64 tm = conv_tile_rows(k, sizeof(T), total, nt);
  const i64 n_tiles = (total + tm - 1) / tm;
  std::vector<T*> accs(static_cast<size_t>(nt), nullptr);
  int team = 1;
  ErrorSlot err;
  run_team(nt, [&] {
    T* acc = nullptr;
    try {
      acc = scratch<T>(ScratchSlot::op_1, k * g.co);
      for (i64 row = 0; row < k; ++row)
        for (const ChannelRun& run : runs)
          std::fill(acc + row * g.co + run.begin, acc + row * g.co + run.end, T(0));
    } catch (...) {
      err.capture();
    }
    accs[static_cast<size_t>(team_rank())] = acc;
    if (team_rank() == 0) team = team_size();
    // static: which tiles each partial sum holds must not depend on timing.
#pragma omp for schedule(static)
    for (i64 t = 0; t < n_tiles; ++t) {
      if (acc == nullptr || err.failed()) continue;
      try {
        weight_tile(g, x, dy, runs, t * tm, std::min(tm, total - t * tm), acc);
      } catch (...) {
        err.capture();
      }
    }  // implicit barrier: every partial sum is complete
#pragma omp for schedule(static)
    for (i64 row = 0; row < k; ++row)
      for (const ChannelRun& run : runs)
        for (i64 o = run.begin; o < run.end; ++o) {
          T sum = 0;
          for (int i = 0; i < team; ++i)
            if (accs[static_cast<size_t>(i)]) sum += accs[static_cast<size_t>(i)][row * g.co + o];
          dw[row * g.co + o] = sum;
        }
  });
  err.rethrow();
}

}  // namespace
}  // namespace detail

template <typename T>
void conv2d_backward_weight(const Conv2dShape& shape, const Conv2dParams& params, const T* x,
                            const T* dy, T* dw, const std::int64_t* channels,
                            std::int64_t n_channels) {
  using namespace detail;
  const char* op = "conv2d_backward_weight";
  const ConvGeom g = make_geom(op, shape, params);
  // Depthwise runs may cross groups (each channel is its own group there).
  const auto runs = channel_runs(op, g, channels, n_channels, g.depthwise() ? g.co : g.cog);
  i64 selected = 0;
  for (const ChannelRun& run : runs) selected += run.end - run.begin;
  count_kernel(g.depthwise() ? "depthwise_conv2d" : "conv2d", Pass::backward_weight,
               g.pixels() * g.k() * selected);
  if (selected == 0) return;
  if (g.n == 0) {  // no pixels: the gradient is zero
    for (i64 row = 0; row < g.k(); ++row)
      for (const ChannelRun& run : runs)
        std::fill(dw + row * g.co + run.begin, dw + row * g.co + run.end, T(0));
    return;
  }
  if (g.depthwise())
    depthwise_backward_weight(g, x, dy, dw, runs);
  else if (small_cin(g) && selected == g.co)  // a channel subset keeps its proportional cost
    small_cin_backward_weight(g, x, dy, dw);
  else
    gemm_backward_weight(g, x, dy, dw, runs, selected);
}

template <typename T>
void conv2d_backward_bias(std::int64_t rows, std::int64_t c_out, const T* dy, T* db) {
  using namespace detail;
  if (rows < 0 || c_out < 0)
    throw ShapeError("conv2d_backward_bias: sizes must be non-negative, got rows=" +
                     std::to_string(rows) + ", c_out=" + std::to_string(c_out));
  count_kernel("conv2d", Pass::backward_bias, rows * c_out);
  // Column sums in double (a float32 sum over ~1e5 rows would lose digits). Fixed slots
  // of 64-row blocks, handed out dynamically, each sum into their own partial; the
  // partials are added in slot order: the same bits for any thread count.
  const int nt = threads_for(static_cast<double>(rows * c_out), 1e6);
  const i64 block = 64;
  const ReductionSlots slots((rows + block - 1) / block, 4, 64);
  std::vector<double> sums(static_cast<size_t>(slots.slots * c_out), 0.0);
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 s = 0; s < slots.slots; ++s) {
      double* mine = sums.data() + s * c_out;
      for (i64 r = slots.begin(s) * block; r < std::min(rows, slots.end(s) * block); ++r)
        for (i64 o = 0; o < c_out; ++o) mine[o] += static_cast<double>(dy[r * c_out + o]);
    }
  });
  for (i64 o = 0; o < c_out; ++o) {
    double sum = 0;
    for (i64 s = 0; s < slots.slots; ++s) sum += sums[static_cast<size_t>(s * c_out + o)];
    db[o] = static_cast<T>(sum);
  }
}

#define PYFROZEN_CONV2D_BACKWARD(T)                                                         \
  template PYFROZEN_API void conv2d_backward_weight<T>(const Conv2dShape&, const Conv2dParams&, \
                                                       const T*, const T*, T*,                 \
                                                       const std::int64_t*, std::int64_t);     \
  template PYFROZEN_API void conv2d_backward_bias<T>(std::int64_t, std::int64_t, const T*, T*);
PYFROZEN_CONV2D_BACKWARD(float)
PYFROZEN_CONV2D_BACKWARD(double)
#undef PYFROZEN_CONV2D_BACKWARD

}  // namespace pyfrozen
