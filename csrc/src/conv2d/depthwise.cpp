// Depthwise drivers: one output (or dx) row per task, handed out dynamically; the ISA
// kernel computes a row for a channel range. A channel multiplier > 1 is handled by
// expanding input rows to the output channels (x'[o] = x[o / multiplier]) so the
// kernels only ever see one channel per lane.
#include <algorithm>

#include "conv2d/depthwise.hpp"
#include "conv2d/epilogue.hpp"
#include "parallel.hpp"
#include "scratch.hpp"

namespace pyfrozen::detail {
namespace {

template <typename T>
DepthwiseKernels<T> kernels();
template <>
DepthwiseKernels<float> kernels<float>() {
  return active_isa() == Isa::avx2 ? depthwise_kernels_avx2_f32() : depthwise_kernels_ref_f32();
}
template <>
DepthwiseKernels<double> kernels<double>() {
  return active_isa() == Isa::avx2 ? depthwise_kernels_avx2_f64() : depthwise_kernels_ref_f64();
}

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

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
  const DepthwiseKernels<T> kern = kernels<T>();
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
      apply_epilogue(ep, yrow, g.ow, g.co, g.co);
    }
  });
  err.rethrow();
}

template <typename T>
void depthwise_backward_input(const ConvGeom& g, const T* dy, const T* w, T* dx) {
  const DepthwiseKernels<T> kern = kernels<T>();
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
  const DepthwiseKernels<T> kern = kernels<T>();
  const i64 taps = g.taps();
  i64 selected = 0;
  for (const ChannelRun& run : runs) selected += run.end - run.begin;
  const double flops = 2.0 * static_cast<double>(g.pixels() * taps * selected);
  const int nt = threads_for(flops, kConvSerialFlops);
  std::vector<T*> accs(static_cast<size_t>(nt), nullptr);  // per-thread partial sums
  int team = 1;
  ErrorSlot err;
  run_team(nt, [&] {
    const T** rows = nullptr;
    T* expanded = nullptr;
    T* acc = nullptr;
    try {
      rows = scratch<const T*>(ScratchSlot::op_2, static_cast<size_t>(g.kh));
      if (g.multiplier() > 1) expanded = scratch<T>(ScratchSlot::op_0, g.kh * g.w * g.co);
      acc = scratch<T>(ScratchSlot::op_1, taps * g.co);
      for (i64 tap = 0; tap < taps; ++tap)
        for (const ChannelRun& run : runs)
          std::fill(acc + tap * g.co + run.begin, acc + tap * g.co + run.end, T(0));
    } catch (...) {
      err.capture();
      acc = nullptr;
    }
    accs[static_cast<size_t>(team_rank())] = acc;
    if (team_rank() == 0) team = team_size();
#pragma omp for schedule(dynamic, 2)
    for (i64 t = 0; t < g.n * g.oh; ++t) {
      if (acc == nullptr) continue;
      input_rows(g, x, t / g.oh, t % g.oh, runs, expanded, rows);
      const T* dyrow = dy + t * g.ow * g.co;
      for (const ChannelRun& run : runs) {
        const DwRow r = forward_row(g, run.begin, run.end - run.begin);
        kern.backward_weight(rows, g.kh, dyrow, acc, r);
      }
    }  // implicit barrier: every partial sum is complete
#pragma omp for schedule(static)
    for (i64 tap = 0; tap < taps; ++tap)
      for (const ChannelRun& run : runs)
        for (i64 o = run.begin; o < run.end; ++o) {
          T sum = 0;
          for (int i = 0; i < team; ++i)
            if (accs[static_cast<size_t>(i)]) sum += accs[static_cast<size_t>(i)][tap * g.co + o];
          dw[tap * g.co + o] = sum;
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
