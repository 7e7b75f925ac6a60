// AVX2 + FMA depthwise row kernels. Channels sit in the vector lanes (8 floats or 4
// doubles per vector, a masked vector for the last channels). For a 3x3 kernel the nine
// taps of a channel vector stay in registers while the interior of the row is swept
// four output pixels per step without bounds checks; border pixels take a checked path.
// Built with -mavx2 -mfma: everything but the entry points stays in the anonymous
// namespace, inside the named `avx2` namespace that the ISA-isolation test looks for.
#include <immintrin.h>

#include "avx2_vec.hpp"
#include "conv2d/depthwise.hpp"

namespace pyfrozen::detail {
namespace avx2 {
namespace {

// The taps of one channel vector: held in registers for 3x3 (K == 3), loaded from L1
// on use for any other kernel size (K == 0). w is already offset to the channel.
template <typename T, int K, bool Masked>
struct Taps {
  using R = typename V<T>::R;
  R v[9];
  Taps(const T* w, i64 ld, i64 /*kw*/, __m256i m) {
#pragma GCC unroll 9
    for (int i = 0; i < 9; ++i) v[i] = V<T>::template load<Masked>(w + i * ld, m);
  }
  R get(i64 a, i64 b) const { return v[a * 3 + b]; }
};

template <typename T, bool Masked>
struct Taps<T, 0, Masked> {
  using R = typename V<T>::R;
  const T* w;
  i64 ld, kw;
  __m256i m;
  Taps(const T* w_, i64 ld_, i64 kw_, __m256i m_) : w(w_), ld(ld_), kw(kw_), m(m_) {}
  R get(i64 a, i64 b) const { return V<T>::template load<Masked>(w + (a * kw + b) * ld, m); }
};

// ---- forward ----------------------------------------------------------------------------

template <typename T, int K, bool Masked>
void forward_chunk(const T* const* rows, i64 kh, const T* w, T* y, const DwRow& r, i64 c,
                   __m256i m) {
  using Vt = V<T>;
  using R = typename Vt::R;
  const i64 KH = K ? K : kh, KW = K ? K : r.kw, ld = r.ld, step = r.stride * ld;
  const Taps<T, K, Masked> taps(w + c, ld, KW, m);
  auto checked = [&](i64 p) {
    R acc = Vt::zero();
    for (i64 a = 0; a < KH; ++a) {
      if (rows[a] == nullptr) continue;
      for (i64 b = 0; b < KW; ++b) {
        const i64 iw = p * r.stride + b * r.dilation - r.pad;
        if (iw < 0 || iw >= r.x_len) continue;
        acc = Vt::fma(Vt::template load<Masked>(rows[a] + iw * ld + c, m), taps.get(a, b), acc);
      }
    }
    Vt::template store<Masked>(y + p * ld + c, m, acc);
  };
  i64 p = 0;
  for (; p < r.lo; ++p) checked(p);
  for (; p + 4 <= r.hi; p += 4) {
    R a0 = Vt::zero(), a1 = Vt::zero(), a2 = Vt::zero(), a3 = Vt::zero();
#pragma GCC unroll 3
    for (i64 a = 0; a < KH; ++a) {
      if (rows[a] == nullptr) continue;
      const T* s = rows[a] + (p * r.stride - r.pad) * ld + c;
#pragma GCC unroll 3
      for (i64 b = 0; b < KW; ++b) {
        const R t = taps.get(a, b);
        const T* sb = s + b * r.dilation * ld;
        a0 = Vt::fma(Vt::template load<Masked>(sb, m), t, a0);
        a1 = Vt::fma(Vt::template load<Masked>(sb + step, m), t, a1);
        a2 = Vt::fma(Vt::template load<Masked>(sb + 2 * step, m), t, a2);
        a3 = Vt::fma(Vt::template load<Masked>(sb + 3 * step, m), t, a3);
      }
    }
    T* out = y + p * ld + c;
    Vt::template store<Masked>(out, m, a0);
    Vt::template store<Masked>(out + ld, m, a1);
    Vt::template store<Masked>(out + 2 * ld, m, a2);
    Vt::template store<Masked>(out + 3 * ld, m, a3);
  }
  for (; p < r.y_len; ++p) checked(p);
}

// ---- backward input ---------------------------------------------------------------------

template <typename T, int K, bool Masked>
void backward_input_chunk(const T* const* rows, i64 kh, const T* w, T* dx, const DwRow& r,
                          i64 c, __m256i m) {
  using Vt = V<T>;
  using R = typename Vt::R;
  const i64 KH = K ? K : kh, KW = K ? K : r.kw, ld = r.ld;
  const Taps<T, K, Masked> taps(w + c, ld, KW, m);
  auto checked = [&](i64 q) {
    R acc = Vt::zero();
    for (i64 b = 0; b < KW; ++b) {
      const i64 t = q + r.pad - b * r.dilation;  // = p * stride for the output pixel p
      if (t < 0 || t % r.stride != 0 || t / r.stride >= r.y_len) continue;
      for (i64 a = 0; a < KH; ++a)
        if (rows[a] != nullptr)
          acc = Vt::fma(Vt::template load<Masked>(rows[a] + (t / r.stride) * ld + c, m),
                        taps.get(a, b), acc);
    }
    Vt::template store<Masked>(dx + q * ld + c, m, acc);
  };
  i64 q = 0;
  for (; q < r.lo; ++q) checked(q);
  for (; q + 4 <= r.hi; q += 4) {  // stride 1 only (hi == lo otherwise)
    R a0 = Vt::zero(), a1 = Vt::zero(), a2 = Vt::zero(), a3 = Vt::zero();
#pragma GCC unroll 3
    for (i64 a = 0; a < KH; ++a) {
      if (rows[a] == nullptr) continue;
      const T* s = rows[a] + (q + r.pad) * ld + c;
#pragma GCC unroll 3
      for (i64 b = 0; b < KW; ++b) {
        const R t = taps.get(a, b);
        const T* sb = s - b * r.dilation * ld;
        a0 = Vt::fma(Vt::template load<Masked>(sb, m), t, a0);
        a1 = Vt::fma(Vt::template load<Masked>(sb + ld, m), t, a1);
        a2 = Vt::fma(Vt::template load<Masked>(sb + 2 * ld, m), t, a2);
        a3 = Vt::fma(Vt::template load<Masked>(sb + 3 * ld, m), t, a3);
      }
    }
    T* out = dx + q * ld + c;
    Vt::template store<Masked>(out, m, a0);
    Vt::template store<Masked>(out + ld, m, a1);
    Vt::template store<Masked>(out + 2 * ld, m, a2);
    Vt::template store<Masked>(out + 3 * ld, m, a3);
  }
  for (; q < r.x_len; ++q) checked(q);
}

// ---- backward weight --------------------------------------------------------------------

// 3x3: nine accumulators in registers, each dy vector loaded once per pixel.
template <typename T, bool Masked>
void backward_weight_chunk3(const T* const* rows, const T* dy, T* acc_mem, const DwRow& r,
                            i64 c, __m256i m) {
  using Vt = V<T>;
  using R = typename Vt::R;
  const i64 ld = r.ld;
  R acc[9];
#pragma GCC unroll 9
  for (int i = 0; i < 9; ++i) acc[i] = Vt::zero();
  auto add_pixel = [&](i64 p, bool check) {
    const R d = Vt::template load<Masked>(dy + p * ld + c, m);
#pragma GCC unroll 3
    for (int a = 0; a < 3; ++a) {
      if (rows[a] == nullptr) continue;
#pragma GCC unroll 3
      for (int b = 0; b < 3; ++b) {
        const i64 iw = p * r.stride + b * r.dilation - r.pad;
        if (check && (iw < 0 || iw >= r.x_len)) continue;
        acc[a * 3 + b] = Vt::fma(Vt::template load<Masked>(rows[a] + iw * ld + c, m), d,
                                 acc[a * 3 + b]);
      }
    }
  };
  i64 p = 0;
  for (; p < r.lo; ++p) add_pixel(p, true);
  for (; p < r.hi; ++p) add_pixel(p, false);
  for (; p < r.y_len; ++p) add_pixel(p, true);
#pragma GCC unroll 9
  for (int i = 0; i < 9; ++i) {
    T* dst = acc_mem + i * ld + c;
    Vt::template store<Masked>(dst, m, Vt::add(Vt::template load<Masked>(dst, m), acc[i]));
  }
}

// Any size: one tap at a time over the pixels whose input lies inside the row.
template <typename T, bool Masked>
void backward_weight_chunk_any(const T* const* rows, i64 kh, const T* dy, T* acc_mem,
                               const DwRow& r, i64 c, __m256i m) {
  using Vt = V<T>;
  using R = typename Vt::R;
  const i64 ld = r.ld;
  for (i64 a = 0; a < kh; ++a) {
    if (rows[a] == nullptr) continue;
    for (i64 b = 0; b < r.kw; ++b) {
      const i64 off = b * r.dilation - r.pad;  // iw = p * stride + off
      i64 p = off < 0 ? (-off + r.stride - 1) / r.stride : 0;
      const i64 last = r.x_len - 1 - off;  // p * stride <= last
      // (no std::min here: an AVX2-compiled copy of a shared inline template could be
      // the one the linker keeps for generic code)
      const i64 n_in = last < 0 ? 0 : last / r.stride + 1;
      const i64 end = n_in < r.y_len ? n_in : r.y_len;
      R s0 = Vt::zero(), s1 = Vt::zero();
      for (; p + 2 <= end; p += 2) {
        s0 = Vt::fma(Vt::template load<Masked>(rows[a] + (p * r.stride + off) * ld + c, m),
                     Vt::template load<Masked>(dy + p * ld + c, m), s0);
        s1 = Vt::fma(Vt::template load<Masked>(rows[a] + ((p + 1) * r.stride + off) * ld + c, m),
                     Vt::template load<Masked>(dy + (p + 1) * ld + c, m), s1);
      }
      if (p < end)
        s0 = Vt::fma(Vt::template load<Masked>(rows[a] + (p * r.stride + off) * ld + c, m),
                     Vt::template load<Masked>(dy + p * ld + c, m), s0);
      T* dst = acc_mem + (a * r.kw + b) * ld + c;
      Vt::template store<Masked>(dst, m,
                                 Vt::add(Vt::template load<Masked>(dst, m), Vt::add(s0, s1)));
    }
  }
}

// ---- 3x3, stride 1, dilation 1, full vectors: a sliding window along the row ------------
// Output pixels go N at a time; each input column of a kernel row is loaded once and
// feeds the (up to) three outputs it meets, so 9 taps + N accumulators + 1 input stay
// in registers (N = 6: 16 ymm). Columns outside [0, src_len) read as zero; only the
// blocks that reach them check (template flag), the interior runs without tests.
// Blocks go along the row and channel groups inside a block: a pixel's channels share
// cache lines, and with many channels (256: a 1 KiB pixel stride) a whole row per
// group would not stay in L1 (every column maps to the same few sets).
constexpr int kSlide = 6;
constexpr i64 kAheadBytes = 4096;

// Prefetch distance in pixels: 4 KiB ahead. None (0) with wide pixels (> 512 bytes):
// there the prefetches cost more than they save (measured: 256 float channels lost
// 5-7% in backward_input and backward_weight, forward unchanged).
template <typename T>
i64 ahead_pixels(i64 ld) {
  const i64 px = kAheadBytes / (ld * static_cast<i64>(sizeof(T)));
  return px >= 8 ? px : 0;
}

template <typename T>
__attribute__((always_inline)) inline void prefetch(const T* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}

struct Slide {
  i64 off;      // input column of tap 0 for output 0
  i64 src_len;  // input pixels in a row
  i64 ld;       // values per pixel
};

// Taps of channel vector c; Mirror reverses them along the row (backward_input).
template <typename T, bool Mirror>
__attribute__((always_inline)) inline void load_taps3(const T* w, i64 ld,
                                                      typename V<T>::R* t) {
#pragma GCC unroll 9
  for (int i = 0; i < 9; ++i) {
    const int a = i / 3, b = i % 3;
    t[i] = V<T>::load(w + (a * 3 + (Mirror ? 2 - b : b)) * ld);
  }
}

// Pl, Pr: columns known to lie in the padding at the left and right ends of the block's
// N + 2 columns (skipped at compile time); Pl < 0: each column is checked at run time.
template <typename T, int N, int Pl, int Pr, bool Mirror>
__attribute__((always_inline)) inline void slide_block(const T* const* rows, const T* w,
                                                       T* out, i64 p, i64 c, const Slide& g) {
  using Vt = V<T>;
  using R = typename Vt::R;
  const i64 ld = g.ld;
  R t[9];
  load_taps3<T, Mirror>(w + c, ld, t);
  R acc[N];
#pragma GCC unroll 8
  for (int i = 0; i < N; ++i) acc[i] = Vt::zero();
  const i64 col0 = p + g.off;
#pragma GCC unroll 3
  for (int a = 0; a < 3; ++a) {
    if (rows[a] == nullptr) continue;
    const T* s = rows[a] + col0 * ld + c;
#pragma GCC unroll 8
    for (int j = 0; j < N + 2; ++j) {
      const bool live =
          Pl < 0 ? col0 + j >= 0 && col0 + j < g.src_len : j >= Pl && j < N + 2 - Pr;
      if (live) {
        const R v = V<T>::load(s);
#pragma GCC unroll 3
        for (int b = 0; b < 3; ++b)
          if (j - b >= 0 && j - b < N) acc[j - b] = Vt::fma(v, t[a * 3 + b], acc[j - b]);
      }
      s += ld;
      asm("" : "+r"(s));  // one walking address, not N + 2 hoisted offsets in spilled GPRs
    }
  }
  // The kernel row entering the window (the last one; the first for backward_input,
  // whose rows run backwards) comes from L3 or memory: ask for it kAhead pixels early,
  // one prefetch per 64-byte line of channels (past the row's end this reaches the next
  // row, which the next output row needs; a prefetch never faults).
  const T* entering = Mirror ? rows[0] : rows[2];
  const i64 ahead = ahead_pixels<T>(ld);
  if (ahead > 0 && entering != nullptr && (c * static_cast<i64>(sizeof(T))) % 64 == 0) {
    const T* pf = entering + (col0 + 2 + ahead) * ld + c;
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) prefetch(pf + i * ld);
  }
  out += p * ld + c;
#pragma GCC unroll 8
  for (int i = 0; i < N; ++i) {
    Vt::template store<false>(out, __m256i{}, acc[i]);
    out += ld;
    asm("" : "+r"(out));
  }
}

template <typename T, int N, int Pl, int Pr, bool Mirror>
void slide_groups(const T* const* rows, const T* w, T* out, i64 p, i64 c0, i64 c1,
                  const Slide& g) {
  for (i64 c = c0; c < c1; c += V<T>::W)
    slide_block<T, N, Pl, Pr, Mirror>(rows, w, out, p, c, g);
}

// One block of N outputs at p over all channel groups, with the padding pattern of the
// common cases (one padding column at either end: 'same' 3x3) resolved at compile time.
template <typename T, int N, bool Mirror>
void slide_at(const T* const* rows, const T* w, T* out, i64 p, i64 c0, i64 c1, const Slide& g) {
  const i64 col0 = p + g.off;
  const i64 l = col0 < 0 ? -col0 : 0;
  const i64 r = col0 + N + 2 > g.src_len ? col0 + N + 2 - g.src_len : 0;
  if (l == 0 && r == 0) return slide_groups<T, N, 0, 0, Mirror>(rows, w, out, p, c0, c1, g);
  if (l == 0 && r == 1) return slide_groups<T, N, 0, 1, Mirror>(rows, w, out, p, c0, c1, g);
  if constexpr (N == kSlide) {
    if (l == 1 && r == 0) return slide_groups<T, N, 1, 0, Mirror>(rows, w, out, p, c0, c1, g);
    if (l == 1 && r == 1) return slide_groups<T, N, 1, 1, Mirror>(rows, w, out, p, c0, c1, g);
  }
  slide_groups<T, N, -1, -1, Mirror>(rows, w, out, p, c0, c1, g);
}

// out[p][c] = sum_{a, b} rows[a][p + off + b][c] * t[a][b][c] for p < out_len and the
// full channel vectors in [c0, c1): forward with off = -pad, and stride-1
// backward_input with the taps mirrored and off = pad - 2.
template <typename T, bool Mirror>
void slide_row(const T* const* rows, const T* w, T* out, i64 out_len, i64 c0, i64 c1,
               const Slide& g) {
  i64 p = 0;
  for (; p + kSlide <= out_len; p += kSlide)
    slide_at<T, kSlide, Mirror>(rows, w, out, p, c0, c1, g);
  switch (out_len - p) {
    case 5: slide_at<T, 5, Mirror>(rows, w, out, p, c0, c1, g); break;
    case 4: slide_at<T, 4, Mirror>(rows, w, out, p, c0, c1, g); break;
    case 3: slide_at<T, 3, Mirror>(rows, w, out, p, c0, c1, g); break;
    case 2: slide_at<T, 2, Mirror>(rows, w, out, p, c0, c1, g); break;
    case 1: slide_at<T, 1, Mirror>(rows, w, out, p, c0, c1, g); break;
    default: break;
  }
}

bool slide_ok(const DwRow& r) { return r.stride == 1 && r.dilation == 1; }

// Backward weight, 3x3 stride 1: input column j meets dy[j + pad - b] through tap b, so
// the last three dy vectors ride along in registers and each input vector is loaded
// once for three FMAs (9 accumulators + 3 dy + 1 input).
template <typename T>
void backward_weight_slide(const T* const* rows, const T* dy, T* acc_mem, const DwRow& r,
                           i64 c) {
  using Vt = V<T>;
  using R = typename Vt::R;
  const i64 ld = r.ld, pad = r.pad;
  const T* d = dy + c;
  auto dy_at = [&](i64 p) { return p >= 0 && p < r.y_len ? V<T>::load(d + p * ld) : Vt::zero(); };
  R acc[9];
#pragma GCC unroll 9
  for (int i = 0; i < 9; ++i) acc[i] = Vt::zero();
  R d1 = dy_at(pad - 1), d2 = dy_at(pad - 2);
  const i64 ahead = ahead_pixels<T>(ld);
  const bool pf = ahead > 0 && (c * static_cast<i64>(sizeof(T))) % 64 == 0;
  auto column = [&](i64 j, R d0) {
    if (pf) {  // the x row entering the window and the dy row: both fresh (see slide_block)
      if (rows[2] != nullptr) prefetch(rows[2] + (j + ahead) * ld + c);
      prefetch(d + (j + pad + ahead) * ld);
    }
#pragma GCC unroll 3
    for (int a = 0; a < 3; ++a) {
      if (rows[a] == nullptr) continue;
      const R v = V<T>::load(rows[a] + j * ld + c);
      acc[a * 3] = Vt::fma(v, d0, acc[a * 3]);
      acc[a * 3 + 1] = Vt::fma(v, d1, acc[a * 3 + 1]);
      acc[a * 3 + 2] = Vt::fma(v, d2, acc[a * 3 + 2]);
    }
    d2 = d1;
    d1 = d0;
  };
  const i64 inside = r.y_len - pad < r.x_len ? r.y_len - pad : r.x_len;  // j + pad < y_len
  i64 j = 0;
  for (; j < inside; ++j) column(j, V<T>::load(d + (j + pad) * ld));
  for (; j < r.x_len; ++j) column(j, dy_at(j + pad));
#pragma GCC unroll 9
  for (int i = 0; i < 9; ++i) {
    T* dst = acc_mem + i * ld + c;
    Vt::template store<false>(dst, __m256i{}, Vt::add(V<T>::load(dst), acc[i]));
  }
}

// ---- channel loops: full vectors, then one masked vector --------------------------------

template <typename T, int K>
void forward_k(const T* const* rows, i64 kh, const T* w, T* y, const DwRow& r) {
  const i64 end = r.c0 + r.nc;
  i64 c = r.c0;
  if (K == 3 && slide_ok(r)) {
    const i64 full = c + (end - c) / V<T>::W * V<T>::W;
    slide_row<T, false>(rows, w, y, r.y_len, c, full, Slide{-r.pad, r.x_len, r.ld});
    c = full;
  }
  for (; c + V<T>::W <= end; c += V<T>::W) forward_chunk<T, K, false>(rows, kh, w, y, r, c, _mm256_setzero_si256());
  if (c < end) forward_chunk<T, K, true>(rows, kh, w, y, r, c, V<T>::mask(end - c));
}

template <typename T>
void forward(const T* const* rows, i64 kh, const T* w, T* y, const DwRow& r) {
  if (kh == 3 && r.kw == 3) forward_k<T, 3>(rows, kh, w, y, r);
  else forward_k<T, 0>(rows, kh, w, y, r);
}

template <typename T, int K>
void backward_input_k(const T* const* rows, i64 kh, const T* w, T* dx, const DwRow& r) {
  const i64 end = r.c0 + r.nc;
  i64 c = r.c0;
  if (K == 3 && slide_ok(r)) {
    const i64 full = c + (end - c) / V<T>::W * V<T>::W;
    slide_row<T, true>(rows, w, dx, r.x_len, c, full, Slide{r.pad - 2, r.y_len, r.ld});
    c = full;
  }
  for (; c + V<T>::W <= end; c += V<T>::W)
    backward_input_chunk<T, K, false>(rows, kh, w, dx, r, c, _mm256_setzero_si256());
  if (c < end) backward_input_chunk<T, K, true>(rows, kh, w, dx, r, c, V<T>::mask(end - c));
}

template <typename T>
void backward_input(const T* const* rows, i64 kh, const T* w, T* dx, const DwRow& r) {
  if (kh == 3 && r.kw == 3) backward_input_k<T, 3>(rows, kh, w, dx, r);
  else backward_input_k<T, 0>(rows, kh, w, dx, r);
}

template <typename T>
void backward_weight(const T* const* rows, i64 kh, const T* dy, T* acc, const DwRow& r) {
  const i64 end = r.c0 + r.nc;
  const bool k3 = kh == 3 && r.kw == 3;
  i64 c = r.c0;
  if (k3 && slide_ok(r))
    for (; c + V<T>::W <= end; c += V<T>::W) backward_weight_slide(rows, dy, acc, r, c);
  for (; c + V<T>::W <= end; c += V<T>::W) {
    if (k3) backward_weight_chunk3<T, false>(rows, dy, acc, r, c, _mm256_setzero_si256());
    else backward_weight_chunk_any<T, false>(rows, kh, dy, acc, r, c, _mm256_setzero_si256());
  }
  if (c == end) return;
  const __m256i m = V<T>::mask(end - c);
  if (k3) backward_weight_chunk3<T, true>(rows, dy, acc, r, c, m);
  else backward_weight_chunk_any<T, true>(rows, kh, dy, acc, r, c, m);
}

}  // namespace
}  // namespace avx2

DepthwiseKernels<float> depthwise_kernels_avx2_f32() {
  return {avx2::forward<float>, avx2::backward_input<float>, avx2::backward_weight<float>};
}
DepthwiseKernels<double> depthwise_kernels_avx2_f64() {
  return {avx2::forward<double>, avx2::backward_input<double>, avx2::backward_weight<double>};
}

}  // namespace pyfrozen::detail
