// Drivers of the small-patch path: one output row (n, oh) per task, handed out
// dynamically in forward (each row writes its own outputs). Interior pixels of a row
// whose kernel rows all lie inside x are read in place; the pixels that touch the
// padding are im2col'ed into a per-thread row buffer and run through the same kernel.
// backward_weight accumulates fixed slots of rows into their own K x ldw partial sums,
// added in slot order at the end: the same bits for any thread count.
#include <algorithm>

#include "conv2d/epilogue.hpp"
#include "conv2d/gemm_conv.hpp"
#include "conv2d/small_cin.hpp"
#include "parallel.hpp"
#include "scratch.hpp"

namespace pyfrozen::detail {
namespace {


// backward_weight's reduction slots: ~8 output rows each, at most 32 partial sums.
constexpr i64 kRowsPerSlot = 8;
constexpr i64 kMaxSlots = 32;

// Whole vectors of 8 floats / 4 doubles, so kernels load kernel rows without masks.
template <typename T>
i64 padded_cols(i64 co) {
  const i64 lanes = 32 / static_cast<i64>(sizeof(T));
  return (co + lanes - 1) / lanes * lanes;
}

// Output pixels [lo, hi) of a row whose taps stay inside x along the width (dilation 1).
struct Interior {
  i64 lo, hi;
};
Interior interior(const ConvGeom& g) {
  const i64 lo = std::min((g.pl + g.sw - 1) / g.sw, g.ow);
  const i64 last = g.w - g.kw + g.pl;  // ow * sw <= last
  return {lo, last < 0 ? lo : std::clamp(last / g.sw + 1, lo, g.ow)};
}

// Calls f(strip, first pixel of the row it starts at) for every strip of output row
// `row` (= n * oh + oh): the in-place interior and the im2col'ed borders.
template <typename T, typename F>
void for_strips(const ConvGeom& g, const T* x, i64 row, Interior in, T* col, F&& f) {
  const i64 n = row / g.oh, oh = row % g.oh, ih0 = oh * g.sh - g.pt;
  const i64 p_row = row * g.ow;
  auto border = [&](i64 b, i64 e) {
    if (b >= e) return;
    im2col_tile(g, x, p_row + b, e - b, 0, col);
    const T* rows[1] = {col};
    f(PatchStrip<T>{rows, 1, g.k(), g.k(), e - b}, b);
  };
  if (ih0 < 0 || ih0 + g.kh > g.h || in.lo >= in.hi) {
    border(0, g.ow);
    return;
  }
  const T* rows[64];  // kh <= K <= 64
  for (i64 a = 0; a < g.kh; ++a)
    rows[a] = x + ((n * g.h + ih0 + a) * g.w + in.lo * g.sw - g.pl) * g.c;
  f(PatchStrip<T>{rows, g.kh, g.kw * g.c, g.sw * g.c, in.hi - in.lo}, in.lo);
  border(0, in.lo);
  border(in.hi, g.ow);
}

}  // namespace

template <typename T>
void small_cin_forward(const ConvGeom& g, const T* x, const T* w, T* y,
                       const Conv2dEpilogue<T>& ep) {
  const SmallCinKernels<T> kern = kSmallCinKernels.active<T>();
  const i64 k = g.k(), ldw = padded_cols<T>(g.co), n_rows = g.n * g.oh;
  T* wp = scratch<T>(ScratchSlot::op_2, k * ldw);  // the calling thread's; read by all
  for (i64 r = 0; r < k; ++r) {
    std::copy(w + r * g.co, w + (r + 1) * g.co, wp + r * ldw);
    std::fill(wp + r * ldw + g.co, wp + (r + 1) * ldw, T(0));
  }
  const Interior in = interior(g);
  const int nt = threads_for(2.0 * static_cast<double>(g.macs()), kConvSerialFlops);
  ErrorSlot err;
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 row = 0; row < n_rows; ++row) {
      if (err.failed()) continue;
      try {
        T* col = scratch<T>(ScratchSlot::op_0, g.ow * k);
        T* y_row = y + row * g.ow * g.co;
        for_strips(g, x, row, in, col, [&](const PatchStrip<T>& s, i64 p) {
          kern.forward(s, wp, ldw, g.co, y_row + p * g.co);
        });
        apply_epilogue(ep, y_row, g.ow, g.co);
      } catch (...) {
        err.capture();
      }
    }
  });
  err.rethrow();
}

template <typename T>
void small_cin_backward_weight(const ConvGeom& g, const T* x, const T* dy, T* dw) {
  const SmallCinKernels<T> kern = kSmallCinKernels.active<T>();
  const i64 k = g.k(), ldw = padded_cols<T>(g.co), n_rows = g.n * g.oh;
  const Interior in = interior(g);
  const int nt = threads_for(2.0 * static_cast<double>(g.macs()), kConvSerialFlops);
  // One K x ldw partial sum (a few KiB) per slot of output rows, in the calling thread's
  // buffer: slots are handed out dynamically and added in slot order.
  const ReductionSlots slots(n_rows, kRowsPerSlot, kMaxSlots);
  T* accs = scratch<T>(ScratchSlot::op_1, slots.slots * k * ldw);
  ErrorSlot err;
  run_team(nt, [&] {
    T* col = nullptr;
    try {
      col = scratch<T>(ScratchSlot::op_0, g.ow * k);
    } catch (...) {
      err.capture();
    }
#pragma omp for schedule(dynamic, 1)
    for (i64 s = 0; s < slots.slots; ++s) {
      if (col == nullptr) continue;
      T* acc = accs + s * k * ldw;
      std::fill(acc, acc + k * ldw, T(0));
      for (i64 row = slots.begin(s); row < slots.end(s); ++row) {
        const T* dy_row = dy + row * g.ow * g.co;
        for_strips(g, x, row, in, col, [&](const PatchStrip<T>& st, i64 p) {
          kern.backward_weight(st, dy_row + p * g.co, g.co, acc, ldw);
        });
      }
    }  // implicit barrier: every partial sum is complete
#pragma omp for schedule(static)
    for (i64 r = 0; r < k; ++r) {
      // Slot by slot, so the adds run along the channels (vectorized), in slot order.
      T* out = dw + r * g.co;
      std::copy(accs + r * ldw, accs + r * ldw + g.co, out);
      for (i64 s = 1; s < slots.slots; ++s) {
        const T* part = accs + (s * k + r) * ldw;
        for (i64 o = 0; o < g.co; ++o) out[o] += part[o];
      }
    }
  });
  err.rethrow();
}

#define PYFROZEN_SMALL_CIN(T)                                                             \
  template void small_cin_forward<T>(const ConvGeom&, const T*, const T*, T*,             \
                                     const Conv2dEpilogue<T>&);                           \
  template void small_cin_backward_weight<T>(const ConvGeom&, const T*, const T*, T*);
PYFROZEN_SMALL_CIN(float)
PYFROZEN_SMALL_CIN(double)
#undef PYFROZEN_SMALL_CIN

}  // namespace pyfrozen::detail
