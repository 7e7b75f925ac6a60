// GEMM driver, BLIS-style: jc (NC) -> pc (KC) -> ic (MC) -> jr (NR) -> ir (MR)
// around a register-tiled micro-kernel, with a small-M path that reads B in place.
#include <algorithm>
#include <atomic>
#include <new>
#include <string>
#include <vector>

#include "gemm/kernels.hpp"
#include "gemm/pack.hpp"
#include "gemm/packed_b.hpp"
#include "gemm/row_tiles.hpp"
#include "parallel.hpp"
#include "scratch.hpp"
#include "pyfrozen/errors.hpp"
#include "pyfrozen/gemm.hpp"
#include "pyfrozen/runtime.hpp"


namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

constexpr i64 kSmallM = 64;           // up to here B is read in place, threads split N
constexpr double kSerialFlops = 1e6;  // below ~1 MFLOP a parallel region costs more than it saves

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }
i64 round_down(i64 a, i64 b) { return a / b * b; }


// Cache blocks from the detected cache sizes: an A micro-panel plus a B micro-panel of
// one K block fill the table's `panels_share` of L1, the packed A block
// ~40% of L2, the packed B block a share of L3.
template <typename T>
GemmBlocking blocking_for(const GemmKernels<T>& kern) {
  const CacheSizes cs = cache_sizes();
  const i64 sz = sizeof(T);
  GemmBlocking bl{kern.mr, kern.nr, 0, 0, 0};
  const i64 panels_bytes = static_cast<i64>(static_cast<double>(cs.l1d) * kern.panels_share);
  bl.kc = std::clamp<i64>(round_down(panels_bytes / ((kern.mr + kern.nr) * sz), 8), 64, 512);
  // Caps rounded down to a whole number of tiles: mc and nc stay multiples of mr, nr.
  bl.mc = round_down(std::clamp<i64>(cs.l2 * 2 / 5 / (bl.kc * sz), kern.mr, 1020), kern.mr);
  bl.nc = round_down(std::clamp<i64>(cs.l3 / 4 / (bl.kc * sz), kern.nr, 4080), kern.nr);
  return bl;
}

template <typename T>
struct Problem {
  MatView<T> a, b;
  i64 m, n, k;
  T alpha, beta;
  T* c;
  i64 ldc;
  const PackedB<T>* packed_b = nullptr;  // B packed beforehand: read, never packed here
};

// Work units per thread so a slower second vCPU does not leave the other idle.
constexpr i64 kTasksPerThread = 4;
// B micro-panels packed together by one thread of the general path.
constexpr i64 kPackGroup = 8;

// Up to this many columns A is read in place by the kernels, not packed: each A
// element is then used by at most 4 micro-panels of B, too few to repay the copy
// (1x1-convolution shapes such as 73728x64 @ 64x32: packing took as long as the math).
constexpr i64 kInPlaceAMaxN = 64;
// Up to this K a micro-tile's C lines are prefetched a panel ahead (see below).
constexpr i64 kShortK = 64;
template <typename T>
constexpr int kLineValues = 64 / sizeof(T);  // values of T in a 64-byte cache line

// C[i0 .. i0+mc, panel] += op(A)[i0 .. i0+mc, k0 .. k0+kc] x one packed B micro-panel.
// A comes from `apack` (laid out by pack_a) or, when apack is null, from A in place.
template <typename T>
void row_tiles_times_panel(const Problem<T>& p, const GemmKernels<T>& kern, const T* apack,
                           i64 i0, i64 mc, i64 k0, i64 kc, const T* bpanel, T* cblk, int ncols,
                           T beta) {
  const RowTiles tiles{mc, kern.mr};
  const i64 rs = p.a.trans ? 1 : p.a.ld, cs = p.a.trans ? p.a.ld : 1;
  for (i64 ip = 0; ip < tiles.count(); ++ip) {
    T* c = cblk + tiles.start(ip) * p.ldc;
    // With a short K the tile is done in a few hundred cycles and C's lines are the
    // stall: fetch (for writing) this tile's lines of the next micro-panel of C now,
    // every line of each row (a 32-float AVX-512 panel row spans two).
    if (kc <= kShortK)
      for (int r = 0; r < tiles.rows(ip); ++r)
        for (int j = 0; j < kern.nr; j += kLineValues<T>)
          __builtin_prefetch(c + r * p.ldc + kern.nr + j, 1, 3);
    if (apack != nullptr) {
      kern.tile(kc, apack + ip * kern.mr * kc, 1, kern.mr, bpanel, kern.nr, c, p.ldc,
                tiles.rows(ip), ncols, p.alpha, beta);
    } else {
      const T* a = p.a.data + (i0 + tiles.start(ip)) * rs + k0 * cs;
      kern.tile_strided(kc, a, rs, cs, bpanel, kern.nr, c, p.ldc, tiles.rows(ip), ncols, p.alpha,
                        beta);
    }
  }
}

// ---- general path: pack B (shared) and A (per thread) -------------------------------
template <typename T>
void gemm_packed(const Problem<T>& p, const GemmKernels<T>& kern, const GemmBlocking& bl,
                 int nt, std::atomic<bool>& oom) {
  const int mr = kern.mr, nr = kern.nr;
  T* bbuf = p.packed_b ? nullptr : scratch<T>(ScratchSlot::gemm_b, bl.kc * ceil_div(bl.nc, nr) * nr);
  const i64 n_ic = ceil_div(p.m, bl.mc);
  const bool pack = p.n > kInPlaceAMaxN;
  run_team(nt, [&] {
    T* abuf = nullptr;
    try {
      abuf = scratch<T>(ScratchSlot::gemm_a, ceil_div(bl.mc, mr) * mr * bl.kc);
    } catch (const std::bad_alloc&) {
      oom = true;  // an exception must not leave the parallel region
    }
    i64 packed_key = -1;  // which (jc, pc, ic) block abuf holds
    for (i64 jc = 0; jc < p.n; jc += bl.nc) {
      const i64 nc = std::min(bl.nc, p.n - jc);
      const i64 n_panels = ceil_div(nc, nr);
      const i64 tasks_wanted = nt > 1 ? kTasksPerThread * nt : 1;
      const i64 chunk = std::max<i64>(1, n_panels / std::max<i64>(1, ceil_div(tasks_wanted, n_ic)));
      const i64 n_chunks = ceil_div(n_panels, chunk);
      for (i64 pc = 0; pc < p.k; pc += bl.kc) {
        const i64 kc = std::min(bl.kc, p.k - pc);
        const T beta = pc == 0 ? p.beta : T(1);
        // Threads pack B in groups of panels (long sequential reads of each B row).
        const T* bblock = p.packed_b ? p.packed_b->panel(pc, jc) : bbuf;
        if (p.packed_b == nullptr) {
#pragma omp for schedule(static)
          for (i64 g = 0; g < n_panels; g += kPackGroup) {
            const i64 cols = std::min(kPackGroup * nr, nc - g * nr);
            pack_b(p.b, pc, jc + g * nr, kc, cols, nr, bbuf + g * nr * kc);
          }
        }
#pragma omp for schedule(dynamic, 1)
        for (i64 t = 0; t < n_ic * n_chunks; ++t) {
          if (abuf == nullptr) continue;
          const i64 ic = (t / n_chunks) * bl.mc, mc = std::min(bl.mc, p.m - ic);
          const i64 key = ((jc / bl.nc) * ceil_div(p.k, bl.kc) + pc / bl.kc) * n_ic + ic / bl.mc;
          if (pack && key != packed_key) {
            pack_a(p.a, ic, pc, mc, kc, mr, kern.pack_a_panel, abuf);
            packed_key = key;
          }
          const i64 jp_end = std::min(n_panels, (t % n_chunks + 1) * chunk);
          for (i64 jp = (t % n_chunks) * chunk; jp < jp_end; ++jp) {
            const int ncols = static_cast<int>(std::min<i64>(nr, nc - jp * nr));
            row_tiles_times_panel(p, kern, pack ? abuf : nullptr, ic, mc, pc, kc,
                                  bblock + jp * nr * kc, p.c + ic * p.ldc + jc + jp * nr, ncols,
                                  beta);
          }
        }  // implicit barrier: bbuf is repacked only after every thread is done with it
      }
    }
  });
}

// B is read from memory once, by pack_b, whose loads stall when the lines are not
// cached yet. So while one K block is multiplied, the matching rows [r0, r1) of the
// next block (clipped to r_end) are prefetched toward L2, a slice per strip.
template <typename T>
void prefetch_b_rows(const MatView<T>& b, i64 r0, i64 r1, i64 r_end, i64 j0, i64 cols) {
  constexpr i64 kLine = 64 / sizeof(T);
  for (i64 r = r0; r < std::min(r1, r_end); ++r) {
    const T* row = b.data + r * b.ld + j0;
    for (i64 j = 0; j < cols; j += kLine) __builtin_prefetch(row + j, 0, 2);
  }
}

// ---- small M, op(B) = B: per thread, A and B packed one KC block at a time -------
// B is used only M times per element: it is packed a KC x chunk block at a time into
// a per-thread buffer that stays in L2, reading B rows sequentially (reading 16-wide
// strips in place thrashes one L1 set when B's pitch is a multiple of 4 KiB, and
// strided 64-byte reads stall on memory latency). A's KC block (M x KC, small) is
// packed next to it, so nothing proportional to K is ever buffered (K can be the
// N*H*W of a convolution's weight gradient).
template <typename T>
void gemm_small_m(const Problem<T>& p, const GemmKernels<T>& kern, const GemmBlocking& bl,
                  int nt, std::atomic<bool>& oom) {
  const int mr = kern.mr, nr = kern.nr;
  const RowTiles tiles{p.m, mr};
  const bool pack = p.n > kInPlaceAMaxN;
  const i64 n_strips = ceil_div(p.n, nr);
  const i64 l2_strips = std::max<i64>(1, cache_sizes().l2 / 2 / (bl.kc * nr * sizeof(T)));
  const i64 per_thread = nt > 1 ? ceil_div(n_strips, kTasksPerThread * nt) : n_strips;
  const i64 chunk = std::min(l2_strips, per_thread);
  const i64 n_chunks = ceil_div(n_strips, chunk);
  run_team(nt, [&] {
    T* apack = nullptr;
    T* bpack = nullptr;
    try {
      apack = scratch<T>(ScratchSlot::gemm_a, tiles.count() * mr * bl.kc);
      if (p.packed_b == nullptr) bpack = scratch<T>(ScratchSlot::gemm_edge, bl.kc * chunk * nr);
    } catch (const std::bad_alloc&) {
      oom = true;
    }
#pragma omp for schedule(dynamic, 1)
    for (i64 t = 0; t < n_chunks; ++t) {
      if (apack == nullptr || (bpack == nullptr && p.packed_b == nullptr)) continue;
      const i64 j0 = t * chunk * nr, cols = std::min(chunk * nr, p.n - j0);
      for (i64 k0 = 0; k0 < p.k; k0 += bl.kc) {
        const i64 kc = std::min(bl.kc, p.k - k0);
        const T beta = k0 == 0 ? p.beta : T(1);
        if (pack) pack_a(p.a, 0, k0, p.m, kc, mr, kern.pack_a_panel, apack);
        const T* bstrips = p.packed_b ? p.packed_b->panel(k0, j0) : bpack;
        if (p.packed_b == nullptr) pack_b(p.b, k0, j0, kc, cols, nr, bpack);
        const i64 strips = ceil_div(cols, nr);
        for (i64 s = 0; s < strips; ++s) {
          const int ncols = static_cast<int>(std::min<i64>(nr, cols - s * nr));
          if (p.packed_b == nullptr)
            prefetch_b_rows(p.b, k0 + kc + s * bl.kc / strips, k0 + kc + (s + 1) * bl.kc / strips,
                            std::min(p.k, k0 + 2 * kc), j0, cols);
          row_tiles_times_panel(p, kern, pack ? apack : nullptr, 0, p.m, k0, kc,
                                bstrips + s * nr * kc, p.c + j0 + s * nr, ncols, beta);
        }
      }
    }
  });
}

// Split K when the columns give each thread at most four strips of work but K has
// at least two blocks per thread.
template <typename T>
bool splits_k(const Problem<T>& p, const GemmKernels<T>& kern, const GemmBlocking& bl, int nt) {
  return nt > 1 && ceil_div(p.n, kern.nr) <= 4 * nt && ceil_div(p.k, bl.kc) >= 2 * nt;
}

// ---- small M and N, long K (a convolution's weight gradient): split K -----------
// C has too few tiles to share (32 x 64 is 12 of them), so the K blocks are split
// instead, into a fixed number of slots of consecutive blocks (kTasksPerThread per
// thread, handed out dynamically); each slot accumulates into its own copy of C, and
// the copies are added into C in slot order, so the bits never depend on timing
// (C = beta * C + sum: C is read only when beta != 0).
template <typename T>
void gemm_split_k(const Problem<T>& p, const GemmKernels<T>& kern, const GemmBlocking& bl,
                  int nt, std::atomic<bool>& oom) {
  const int mr = kern.mr, nr = kern.nr;
  const i64 mn = p.m * p.n, n_kb = ceil_div(p.k, bl.kc), n_padded = ceil_div(p.n, nr) * nr;
  const i64 slots = std::min<i64>(n_kb, kTasksPerThread * nt);
  const bool pack = p.n > kInPlaceAMaxN;
  T* partial = scratch<T>(ScratchSlot::gemm_b, slots * mn);
  run_team(nt, [&] {
    T* apack = nullptr;
    T* bpack = nullptr;
    try {
      apack = scratch<T>(ScratchSlot::gemm_a, RowTiles{p.m, mr}.count() * mr * bl.kc);
      bpack = scratch<T>(ScratchSlot::gemm_edge, bl.kc * n_padded);
    } catch (const std::bad_alloc&) {
      oom = true;
    }
#pragma omp for schedule(dynamic, 1)
    for (i64 s = 0; s < slots; ++s) {
      if (apack == nullptr || bpack == nullptr) continue;
      Problem<T> mine = p;  // this slot's copy of C, dense m x n
      mine.c = partial + s * mn;
      mine.ldc = p.n;
      for (i64 q = n_kb * s / slots; q < n_kb * (s + 1) / slots; ++q) {
        const i64 k0 = q * bl.kc, kc = std::min(bl.kc, p.k - k0);
        const T beta = q == n_kb * s / slots ? T(0) : T(1);
        if (pack) pack_a(p.a, 0, k0, p.m, kc, mr, kern.pack_a_panel, apack);
        pack_b(p.b, k0, 0, kc, p.n, nr, bpack);
        for (i64 j = 0; j * nr < p.n; ++j)
          row_tiles_times_panel(mine, kern, pack ? apack : nullptr, 0, p.m, k0, kc,
                                bpack + j * nr * kc, mine.c + j * nr,
                                static_cast<int>(std::min<i64>(nr, p.n - j * nr)), beta);
      }
    }
  });
  for (i64 i = 0; i < p.m; ++i)
    for (i64 j = 0; j < p.n; ++j) {
      T sum = p.beta == T(0) ? T(0) : p.beta * p.c[i * p.ldc + j];
      for (i64 s = 0; s < slots; ++s) sum += partial[s * mn + i * p.n + j];
      p.c[i * p.ldc + j] = sum;
    }
}

// ---- small M, op(B) = B^T: dot products along k, rows of A and B both contiguous -----
template <typename T>
void gemm_small_m_nt(const Problem<T>& p, const GemmKernels<T>& kern, int nt) {
  const T* a = p.a.data;
  i64 lda = p.a.ld;
  if (p.a.trans) {  // A^T is not k-contiguous: copy it once into m x k rows
    T* rows = scratch<T>(ScratchSlot::gemm_b, p.m * p.k);
    pack_rows(p.a, p.m, p.k, rows);
    a = rows;
    lda = p.k;
  }
  const i64 n_blocks = ceil_div(p.n, kern.dot_nr);
  const i64 chunk = nt > 1 ? std::max<i64>(1, n_blocks / (kTasksPerThread * nt)) : n_blocks;
  const i64 n_chunks = ceil_div(n_blocks, chunk);
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 t = 0; t < n_chunks; ++t)
      for (i64 jb = t * chunk; jb < std::min(n_blocks, (t + 1) * chunk); ++jb) {
        const i64 j0 = jb * kern.dot_nr;
        const int ncols = static_cast<int>(std::min<i64>(kern.dot_nr, p.n - j0));
        for (i64 i0 = 0; i0 < p.m; i0 += kern.dot_mr)
          kern.dot(p.k, a + i0 * lda, lda, p.b.data + j0 * p.b.ld, p.b.ld, p.c + i0 * p.ldc + j0,
                   p.ldc, static_cast<int>(std::min<i64>(kern.dot_mr, p.m - i0)), ncols, p.alpha,
                   p.beta);
      }
  });
}

template <typename T>
void scale_c(i64 m, i64 n, T beta, T* c, i64 ldc) {
  if (beta == T(1)) return;
  for (i64 i = 0; i < m; ++i)
    for (i64 j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

void check_ld(const char* name, i64 ld, i64 rows, i64 cols, bool trans, const char* what) {
  if (ld >= std::max<i64>(1, cols)) return;
  throw ShapeError("gemm: " + std::string(name) + "=" + std::to_string(ld) +
                   " is less than the " + std::to_string(cols) + " columns of " + what +
                   " (stored " + std::to_string(rows) + "x" + std::to_string(cols) +
                   (trans ? ", transposed" : "") + ")");
}

void check_args(bool ta, bool tb, i64 m, i64 n, i64 k, i64 lda, i64 ldb, i64 ldc) {
  if (m < 0 || n < 0 || k < 0)
    throw ShapeError("gemm: sizes must be non-negative, got m=" + std::to_string(m) +
                     ", n=" + std::to_string(n) + ", k=" + std::to_string(k));
  check_ld("lda", lda, ta ? k : m, ta ? m : k, ta, "A");
  check_ld("ldb", ldb, tb ? n : k, tb ? k : n, tb, "B");
  check_ld("ldc", ldc, m, n, false, "C");
}

}  // namespace

// ---- B packed once for several products (a convolution's row tiles) ---------------

template <typename T>
PackedB<T> pack_b_once(bool trans_b, std::int64_t k, std::int64_t n, const T* b,
                       std::int64_t ldb) {
  const GemmKernels<T> kern = kGemmKernels.active<T>();
  PackedB<T> out{kern, blocking_for(kern), k, n, nullptr};
  T* dst = scratch<T>(ScratchSlot::gemm_packed_b, k * out.n_padded());
  out.data = dst;
  for (i64 k0 = 0; k0 < k; k0 += out.bl.kc)
    pack_b(MatView<T>{b, ldb, trans_b}, k0, 0, std::min(out.bl.kc, k - k0), n, kern.nr,
           dst + k0 * out.n_padded());
  return out;
}

// The small-M and general paths with B's panels read from `b` instead of packed: the
// same kernels and K blocks as gemm(), so the same bits. (Neither the dot-product path
// nor the K split reads packed panels; a tiled convolution needs neither.)
template <typename T>
void gemm_packed_b(std::int64_t m, const T* a, std::int64_t lda, const PackedB<T>& b, T* c,
                   std::int64_t ldc) {
  if (m == 0 || b.n == 0 || b.k == 0) return;
  const Problem<T> p{{a, lda, false}, {nullptr, 0, false}, m, b.n, b.k, T(1), T(0), c, ldc, &b};
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(b.n) *
                       static_cast<double>(b.k);
  const int nt = threads_for(flops, kSerialFlops);
  std::atomic<bool> oom{false};
  if (m <= kSmallM)
    gemm_small_m(p, b.kern, b.bl, nt, oom);
  else
    gemm_packed(p, b.kern, b.bl, nt, oom);
  if (oom) throw std::bad_alloc();
}

#define PYFROZEN_INSTANTIATE_PACKED_B(T)                                                      \
  template PackedB<T> pack_b_once<T>(bool, std::int64_t, std::int64_t, const T*, std::int64_t); \
  template void gemm_packed_b<T>(std::int64_t, const T*, std::int64_t, const PackedB<T>&, T*,  \
                                 std::int64_t);
PYFROZEN_INSTANTIATE_PACKED_B(float)
PYFROZEN_INSTANTIATE_PACKED_B(double)
#undef PYFROZEN_INSTANTIATE_PACKED_B

}  // namespace detail

template <typename T>
GemmBlocking gemm_blocking() {
  return detail::blocking_for(detail::kGemmKernels.active<T>());
}

template <typename T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc) {
  using namespace detail;
  check_args(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) return scale_c(m, n, beta, c, ldc);

  const GemmKernels<T> kern = kGemmKernels.active<T>();
  // The blocking follows the machine's caches (detected once) and the kernel's tile: a
  // few integer operations per call.
  // One kc for every path and size: the K blocks set the order of the sums, so a
  // product split by rows (a convolution's threads) gives the same bits as a whole one.
  const GemmBlocking bl = blocking_for(kern);

  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int nt = threads_for(flops, kSerialFlops);
  const Problem<T> p{{a, lda, trans_a}, {b, ldb, trans_b}, m, n, k, alpha, beta, c, ldc};
  std::atomic<bool> oom{false};
  if (m <= kSmallM && trans_b)
    gemm_small_m_nt(p, kern, nt);
  else if (m <= kSmallM && splits_k(p, kern, bl, nt))
    gemm_split_k(p, kern, bl, nt, oom);
  else if (m <= kSmallM)
    gemm_small_m(p, kern, bl, nt, oom);
  else
    gemm_packed(p, kern, bl, nt, oom);
  if (oom) throw std::bad_alloc();
}

template PYFROZEN_API void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t,
                                       float, const float*, std::int64_t, const float*,
                                       std::int64_t, float, float*, std::int64_t);
template PYFROZEN_API void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t,
                                        double, const double*, std::int64_t, const double*,
                                        std::int64_t, double, double*, std::int64_t);
template PYFROZEN_API GemmBlocking gemm_blocking<float>();
template PYFROZEN_API GemmBlocking gemm_blocking<double>();

}  // namespace pyfrozen
