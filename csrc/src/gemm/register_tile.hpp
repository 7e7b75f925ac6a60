#pragma once
// Private, for the ISA micro-kernel files only (ukernel_avx2.cpp, ukernel_avx512.cpp):
// the register tile written once over a vector type V (avx2_vec.hpp's V<T>,
// avx512_vec.hpp's Z<T>: R, W, kRegisters, zero, load, mload, store, mstore, set1, fma, mul and a
// tail mask). Each file instantiates it with its own V, a type in that file's anonymous
// namespace, so every instantiation has internal linkage and the file's ISA flags: no
// copy built for one ISA can be linked into another's (test_isa_isolation.py).
#include <cstdint>
#include <type_traits>

namespace pyfrozen::detail::register_tile {

// C[0 .. n) = alpha * acc + beta * C for one vector of a row, the tail masked.
// Accumulators travel by value: taking their address would keep them on the stack.
template <class V, typename T>
inline void store_vec(typename V::R acc, T* c, int n, T alpha, T beta) {
  if (n <= 0) return;
  auto r = V::mul(V::set1(alpha), acc);
  if (n >= V::W) {
    if (beta != T(0)) r = V::fma(V::set1(beta), V::load(c), r);  // beta == 0: C not read
    V::store(c, r);
  } else {
    const auto m = V::mask(n);
    if (beta != T(0)) r = V::fma(V::set1(beta), V::mload(c, m), r);
    V::mstore(c, m, r);
  }
}

// M x (NV*W) register tile, M <= 12. Row i of A at step k is a[i*rs + k*cs]: a packed
// micro-panel (rs = 1, cs = MR, constants) or A read in place (kStrided, for a product
// too narrow to repay packing). b advances ldb per k. Named accumulators rather than
// an array: GCC keeps an array of vectors in memory and stores it on every iteration,
// halving the speed. Rows 6-11 are read from a second pointer so both halves share five
// row offsets: twelve offsets of a strided A ran out of general registers.
#define PYFROZEN_ROW(i)                                                   \
  if constexpr (M > i) {                                                  \
    const R ai = V::set1((i < 6 ? a : a6)[(i % 6) * rs]);                 \
    c##i##0 = V::fma(ai, b0, c##i##0);                                    \
    if constexpr (NV > 1) c##i##1 = V::fma(ai, b1, c##i##1);              \
  }
#define PYFROZEN_STORE(i)                                                 \
  if constexpr (M > i) {                                                  \
    store_vec<V>(c##i##0, c + i * ldc, n, alpha, beta);                   \
    if constexpr (NV > 1) store_vec<V>(c##i##1, c + i * ldc + V::W, n - V::W, alpha, beta); \
  }
#define PYFROZEN_ZERO(i) R c##i##0 = V::zero(), c##i##1 = V::zero();

template <class V, int MR, typename T, int M, int NV, bool kStrided>
void tile(std::int64_t kc, const T* a, std::int64_t a_rs, std::int64_t a_cs, const T* b,
          std::int64_t ldb, T* c, std::int64_t ldc, int n, T alpha, T beta) {
  static_assert(M >= 1 && M <= MR && MR <= 12, "a tile has 1 to 12 rows");
  using R = typename V::R;
  const std::int64_t rs = kStrided ? a_rs : 1, cs = kStrided ? a_cs : MR;
  // alpha and beta wait in memory when the tile leaves no two vector registers for them
  // (AVX2: 12 accumulators, 2 of B and a broadcast of 16): kept in registers across the
  // loop they would push an accumulator onto the stack.
  constexpr bool kScaleInMemory = 2 * MR + 3 + 2 > V::kRegisters;
  std::conditional_t<kScaleInMemory, volatile T, T> scale[2] = {alpha, beta};
  PYFROZEN_ZERO(0) PYFROZEN_ZERO(1) PYFROZEN_ZERO(2) PYFROZEN_ZERO(3)
  PYFROZEN_ZERO(4) PYFROZEN_ZERO(5) PYFROZEN_ZERO(6) PYFROZEN_ZERO(7)
  PYFROZEN_ZERO(8) PYFROZEN_ZERO(9) PYFROZEN_ZERO(10) PYFROZEN_ZERO(11)
  const T* a6 = a + 6 * rs;
  for (std::int64_t k = 0; k < kc; ++k, a += cs, a6 += cs, b += ldb) {
    const R b0 = V::load(b);
    const R b1 = NV > 1 ? V::load(b + V::W) : b0;
    PYFROZEN_ROW(0) PYFROZEN_ROW(1) PYFROZEN_ROW(2) PYFROZEN_ROW(3)
    PYFROZEN_ROW(4) PYFROZEN_ROW(5) PYFROZEN_ROW(6) PYFROZEN_ROW(7)
    PYFROZEN_ROW(8) PYFROZEN_ROW(9) PYFROZEN_ROW(10) PYFROZEN_ROW(11)
  }
  alpha = scale[0];
  beta = scale[1];
  PYFROZEN_STORE(0) PYFROZEN_STORE(1) PYFROZEN_STORE(2) PYFROZEN_STORE(3)
  PYFROZEN_STORE(4) PYFROZEN_STORE(5) PYFROZEN_STORE(6) PYFROZEN_STORE(7)
  PYFROZEN_STORE(8) PYFROZEN_STORE(9) PYFROZEN_STORE(10) PYFROZEN_STORE(11)
}
#undef PYFROZEN_ROW
#undef PYFROZEN_STORE
#undef PYFROZEN_ZERO

// The tile for m rows (1 <= m <= MR), M counting down from MR.
template <class V, int MR, typename T, int NV, bool kStrided, int M = MR>
void tile_rows(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t cs, const T* b,
               std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha, T beta) {
  if constexpr (M > 1) {
    if (m < M)
      return tile_rows<V, MR, T, NV, kStrided, M - 1>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha,
                                                      beta);
  }
  tile<V, MR, T, M, NV, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, n, alpha, beta);
}

// A TileKernel (kernels.hpp). Edge tiles keep register blocking: every row count has
// its own tile (nothing is padded up to MR rows; RowTiles never leaves 1 or 2 rows
// behind a full tile), one vector wide when at most W columns remain.
template <class V, int MR, typename T, bool kStrided>
void tile_any(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t cs, const T* b,
              std::int64_t ldb, T* c, std::int64_t ldc, int m, int n, T alpha, T beta) {
  if (n > V::W)
    tile_rows<V, MR, T, 2, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha, beta);
  else
    tile_rows<V, MR, T, 1, kStrided>(kc, a, rs, cs, b, ldb, c, ldc, m, n, alpha, beta);
}

}  // namespace pyfrozen::detail::register_tile
