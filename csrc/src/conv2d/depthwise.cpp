// Depthwise drivers: one output (or dx) row per task, handed out dynamically (each row
// writes its own outputs); backward_weight hands out fixed slots of rows, each summed
// into its own partial, added in slot order (the same bits for any thread count). The
// ISA kernel computes a row for a channel range. A channel multiplier > 1 is handled by
// expanding input rows to the output channels (x'[o] = x[o / multiplier]) so the
// kernels only ever see one channel per lane.
#include <algorithm>

#include "conv2d/depthwise.hpp"
#include "conv2d/epilogue.hpp"
#include "parallel.hpp"
#include "scratch.hpp"

namespace pyfrozen::detail {
namespace {


i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// backward_weight's reduction slots: ~8 output rows each (enough work per slot to hide
// its partial sum's zeroing), at most 16: each slot costs a zeroed partial sum of
// taps x co and one more pass over it at the end, which for dw3x3 256 @12x12 (12 output
// pixels a row) is about 1 / (rows per slot x 12) of the kernel's own work; 16 slots
// still give 8 per thread on 2 threads to balance.
constexpr i64 kDwRowsPerSlot = 8;
constexpr i64 kDwMaxSlots = 16;

// Row geometry with the interior [lo, hi) of output pixels whose taps all lie inside.
DwRow forward_row(const ConvGeom& g, i64 c0, i64 nc) {
  DwRow r{g.w, g.ow, g.kw, g.sw, g.dw, g.pl, g.co, c0, nc, 0, 0};
  const i64 last = g.w - 1 - (g.kw - 1) * g.dw + g.pl;  // p * stride <= last
  r.lo = std::min(ceil_div(g.pl, g.sw), g.ow);
  r.hi = last < 0 ? r.lo : std::clamp(last / g.sw + 1, r.lo, g.ow);
  return r;
}

// Row geometry of dx rows: with stride 1, [lo, hi) are the input pixels that every tap
// reaches from inside the dy row; with larger strides every pixel is checked.
DwRow backward_input_row(const ConvGeom& g) {
  DwRow r{g.w, g.ow, g.kw, g.sw, g.dw, g.pl, g.co, 0, g.co, 0, 0};
  if (g.sw == 1) {
    r.lo = std::clamp((g.kw - 1) * g.dw - g.pl, i64{0}, g.w);
    r.hi = std::clamp(g.ow - g.pl, r.lo, g.w);
  }
  return r;
}

// dst[iw][o] = src[iw][o / m] for o in [o0, o1): an input row in output-channel order.
template <typename T>
void expand_row(const T* src, i64 width, i64 c, i64 m, i64 o0, i64 o1, T* dst) {
  for (i64 iw = 0; iw < width; ++iw)
    for (i64 o = o0; o < o1; ++o) dst[iw * c * m + o] = src[iw * c + o / m];
}

// rows[a] = x row met by kernel row a for output row (ni, oh), expanded when m > 1.
template <typename T>
void input_rows(const ConvGeom& g, const T* x, i64 ni, i64 oh, const std::vector<ChannelRun>& runs,
                T* expanded, const T** rows) {
  const i64 m = g.multiplier();
  for (i64 a = 0; a < g.kh; ++a) {
    const i64 ih = oh * g.sh + a * g.dh - g.pt;
    rows[a] = ih < 0 || ih >= g.h ? nullptr : x + (ni * g.h + ih) * g.w * g.c;
    if (m == 1 || rows[a] == nullptr) continue;
    T* dst = expanded + a * g.w * g.co;
    for (const ChannelRun& run : runs) expand_row(rows[a], g.w, g.c, m, run.begin, run.end, dst);
    rows[a] = dst;
  }
}

}  // namespace

template <typename T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, T* y,
                       const Conv2dEpilogue<T>& ep) {
  const DepthwiseKernels<T> kern = kDepthwiseKernels.active<T>();
  const DwRow r = forward_row(g, 0, g.co);
  const std::vector<ChannelRun> all{{0, g.co}};
  const int nt = threads_for(2.0 * static_cast<double>(g.macs()), kConvSerialFlops);
  ErrorSlot err;
  run_team(nt, [&] {
    const T** rows = nullptr;
    T* expanded = nullptr;
    try {
      rows = scratch<const T*>(ScratchSlot::op_2, static_cast<size_t>(g.kh));
      if (g.multiplier() > 1) expanded = scratch<T>(ScratchSlot::op_0, g.kh * g.w * g.co);
    } catch (...) {
      err.capture();
      rows = nullptr;
    }
#pragma omp for schedule(dynamic, 2)
    for (i64 t = 0; t < g.n * g.oh; ++t) {
      if (rows == nullptr) continue;
      input_rows(g, x, t / g.oh, t % g.oh, all, expanded, rows);
      T* yrow = y + t * g.ow * g.co;
      kern.forward(rows, g.kh, w, yrow, r);
      apply_epilogue(ep, yrow, g.ow, g.co);
    }
  });
  err.rethrow();
}

template <typename T>
void depthwise_backward_input(const ConvGeom& g, const T* dy, const T* w, T* dx) {
  const DepthwiseKernels<T> kern = kDepthwiseKernels.active<T>();
  const DwRow r = backward_input_row(g);
  const i64 m = g.multiplier();
  const int nt = threads_for(2.0 * static_cast<double>(g.macs()), kConvSerialFlops);
  ErrorSlot err;
  run_team(nt, [&] {
    const T** rows = nullptr;
    T* wide = nullptr;  // a dx row in output-channel order, summed over the multiplier
    try {
      rows = scratch<const T*>(ScratchSlot::op_2, static_cast<size_t>(g.kh));
      if (m > 1) wide = scratch<T>(ScratchSlot::op_0, g.w * g.co);
    } catch (...) {
      err.capture();
      rows = nullptr;
    }
#pragma omp for schedule(dynamic, 2)
    for (i64 t = 0; t < g.n * g.h; ++t) {
      if (rows == nullptr) continue;
      const i64 ni = t / g.h, ih = t % g.h;
      for (i64 a = 0; a < g.kh; ++a) {
        const i64 s = ih + g.pt - a * g.dh;  // = oh * stride for the dy row it meets
        const bool hit = s >= 0 && s % g.sh == 0 && s / g.sh < g.oh;
        rows[a] = hit ? dy + (ni * g.oh + s / g.sh) * g.ow * g.co : nullptr;
      }
      T* dxrow = dx + t * g.w * g.c;
      if (m == 1) {
        kern.backward_input(rows, g.kh, w, dxrow, r);
        continue;
      }
      kern.backward_input(rows, g.kh, w, wide, r);
      for (i64 iw = 0; iw < g.w; ++iw)
        for (i64 ci = 0; ci < g.c; ++ci) {
          const T* src = wide + iw * g.co + ci * m;
          T sum = 0;
          for (i64 j = 0; j < m; ++j) sum += src[j];
          dxrow[iw * g.c + ci] = sum;
        }
    }
  });
  err.rethrow();
}

template <typename T>
void depthwise_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw,
                               const std::vector<ChannelRun>& runs) {
  const DepthwiseKernels<T> kern = kDepthwiseKernels.active<T>();
  const i64 taps = g.taps(), acc_size = taps * g.co;
  i64 selected = 0;
  for (const ChannelRun& run : runs) selected += run.end - run.begin;
  const double flops = 2.0 * static_cast<double>(g.pixels() * taps * selected);
  const int nt = threads_for(flops, kConvSerialFlops);
  // One partial sum (taps x co, a few KiB) per slot of output rows, in the calling
  // thread's buffer: slots are handed out dynamically and added in slot order.
  const ReductionSlots slots(g.n * g.oh, kDwRowsPerSlot, kDwMaxSlots);
  T* accs = scratch<T>(ScratchSlot::op_1, slots.slots * acc_size);
  ErrorSlot err;
  run_team(nt, [&] {
    const T** rows = nullptr;
    T* expanded = nullptr;
    try {
      rows = scratch<const T*>(ScratchSlot::op_2, static_cast<size_t>(g.kh));
      if (g.multiplier() > 1) expanded = scratch<T>(ScratchSlot::op_0, g.kh * g.w * g.co);
    } catch (...) {
      err.capture();
      rows = nullptr;
    }
#pragma omp for schedule(dynamic, 1)
    for (i64 s = 0; s < slots.slots; ++s) {
      if (rows == nullptr) continue;
      T* acc = accs + s * acc_size;
      for (i64 tap = 0; tap < taps; ++tap)
        for (const ChannelRun& run : runs)
          std::fill(acc + tap * g.co + run.begin, acc + tap * g.co + run.end, T(0));
      for (i64 t = slots.begin(s); t < slots.end(s); ++t) {
        input_rows(g, x, t / g.oh, t % g.oh, runs, expanded, rows);
        const T* dyrow = dy + t * g.ow * g.co;
        for (const ChannelRun& run : runs) {
          const DwRow r = forward_row(g, run.begin, run.end - run.begin);
          kern.backward_weight(rows, g.kh, dyrow, acc, r);
        }
      }
    }  // implicit barrier: every partial sum is complete
#pragma omp for schedule(static)
    for (i64 tap = 0; tap < taps; ++tap)
      for (const ChannelRun& run : runs) {
        // Slot by slot, so the adds run along the channels (vectorized), in slot order.
        T* out = dw + tap * g.co;
        std::copy(accs + tap * g.co + run.begin, accs + tap * g.co + run.end, out + run.begin);
        for (i64 s = 1; s < slots.slots; ++s) {
          const T* part = accs + s * acc_size + tap * g.co;
          for (i64 o = run.begin; o < run.end; ++o) out[o] += part[o];
        }
      }
  });
  err.rethrow();
}

#define PYFROZEN_DEPTHWISE(T)                                                                 \
  template void depthwise_forward<T>(const ConvGeom&, const T*, const T*, T*,                \
                                     const Conv2dEpilogue<T>&);                               \
  template void depthwise_backward_input<T>(const ConvGeom&, const T*, const T*, T*);        \
  template void depthwise_backward_weight<T>(const ConvGeom&, const T*, const T*, T*,        \
                                             const std::vector<ChannelRun>&);
PYFROZEN_DEPTHWISE(float)
PYFROZEN_DEPTHWISE(double)
#undef PYFROZEN_DEPTHWISE

}  // namespace pyfrozen::detail
