// Dense weight gradients limited to listed output columns or input rows: a frozen
// part of a Dense kernel costs no multiply-adds. Runs of adjacent indices go straight
// to gemm; many short runs are packed into one gemm instead.
#include <cstring>
#include <vector>

#include "dense/checks.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/dense.hpp"
#include "pyfrozen/gemm.hpp"
#include "scratch.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

// Below this mean run length one packed gemm beats a gemm call per run.
constexpr i64 kMinMeanRun = 16;

/// Calls f(first, length) for each maximal run of consecutive indices.
template <typename F>
void for_each_run(const i64* idx, i64 count, F f) {
  for (i64 i = 0; i < count;) {
    i64 j = i + 1;
    while (j < count && idx[j] == idx[j - 1] + 1) ++j;
    f(i, idx[i], j - i);
    i = j;
  }
}

i64 count_runs(const i64* idx, i64 count) {
  i64 runs = 0;
  for_each_run(idx, count, [&](i64, i64, i64) { ++runs; });
  return runs;
}

bool use_runs(const i64* idx, i64 count) {
  const i64 runs = count_runs(idx, count);
  return runs == 1 || runs * kMinMeanRun <= count;
}

template <typename T>
void columns_packed(i64 n, i64 in, i64 out, const T* x, const T* dy, T* dw, const i64* cols,
                    i64 k, bool accumulate) {
  // P = dY[:, cols] (n x k), C = X^T P (in x k), then C goes to dW's columns.
  T* p = scratch<T>(ScratchSlot::op_0, static_cast<std::size_t>(n * k));
  T* c = scratch<T>(ScratchSlot::op_1, static_cast<std::size_t>(in * k));
  for (i64 r = 0; r < n; ++r)
    for (i64 j = 0; j < k; ++j) p[r * k + j] = dy[r * out + cols[j]];
  gemm<T>(true, false, in, k, n, T(1), x, in, p, k, T(0), c, k);
  for (i64 i = 0; i < in; ++i)
    for (i64 j = 0; j < k; ++j) {
      T& dst = dw[i * out + cols[j]];
      dst = accumulate ? dst + c[i * k + j] : c[i * k + j];
    }
}

template <typename T>
void rows_packed(i64 n, i64 in, i64 out, const T* x, const T* dy, T* dw, const i64* rows, i64 k,
                 bool accumulate) {
  // P = X[:, rows] (n x k), C = P^T dY (k x out), then C's rows go to dW's rows.
  T* p = scratch<T>(ScratchSlot::op_0, static_cast<std::size_t>(n * k));
  T* c = scratch<T>(ScratchSlot::op_1, static_cast<std::size_t>(k * out));
  for (i64 r = 0; r < n; ++r)
    for (i64 j = 0; j < k; ++j) p[r * k + j] = x[r * in + rows[j]];
  gemm<T>(true, false, k, out, n, T(1), p, k, dy, out, T(0), c, out);
  for (i64 j = 0; j < k; ++j) {
    T* dst = dw + rows[j] * out;
    const T* src = c + j * out;
    if (!accumulate) {
      std::memcpy(dst, src, static_cast<std::size_t>(out) * sizeof(T));
      continue;
    }
    for (i64 o = 0; o < out; ++o) dst[o] += src[o];
  }
}

template <typename T>
void check_common(const char* op, i64 n, i64 in, i64 out, const T* x, const T* dy, const T* dw) {
  check_sizes(op, {{"n", n}, {"in", in}, {"out", out}});
  const i64 s = static_cast<i64>(sizeof(T));
  check_disjoint(op, "dw", dw, in * out * s, "x", x, n * in * s);
  check_disjoint(op, "dw", dw, in * out * s, "dy", dy, n * out * s);
}

}  // namespace
}  // namespace detail

template <typename T>
void dense_backward_weight_columns(std::int64_t n, std::int64_t in, std::int64_t out,
                                   const T* x, const T* dy, T* dw, const std::int64_t* cols,
                                   std::int64_t ncols, bool accumulate) {
  using namespace detail;
  const char* op = "dense_backward_weight";
  check_common(op, n, in, out, x, dy, dw);
  check_sizes(op, {{"ncols", ncols}});
  check_disjoint(op, "dw", dw, in * out * static_cast<i64>(sizeof(T)), "columns", cols, ncols * 8);
  check_index_list(op, "columns", cols, ncols, out, "out");
  count_kernel("dense", Pass::backward_weight, n * in * ncols);
  if (in == 0 || ncols == 0) return;
  if (!use_runs(cols, ncols)) return columns_packed(n, in, out, x, dy, dw, cols, ncols, accumulate);
  const T beta = accumulate ? T(1) : T(0);
  for_each_run(cols, ncols, [&](i64, i64 c0, i64 len) {
    gemm<T>(true, false, in, len, n, T(1), x, in, dy + c0, out, beta, dw + c0, out);
  });
}

template <typename T>
void dense_backward_weight_rows(std::int64_t n, std::int64_t in, std::int64_t out, const T* x,
                                const T* dy, T* dw, const std::int64_t* rows, std::int64_t nrows,
                                bool accumulate) {
  using namespace detail;
  const char* op = "dense_backward_weight";
  check_common(op, n, in, out, x, dy, dw);
  check_sizes(op, {{"nrows", nrows}});
  check_disjoint(op, "dw", dw, in * out * static_cast<i64>(sizeof(T)), "rows", rows, nrows * 8);
  check_index_list(op, "rows", rows, nrows, in, "in");
  count_kernel("dense", Pass::backward_weight, n * nrows * out);
  if (out == 0 || nrows == 0) return;
  if (!use_runs(rows, nrows)) return rows_packed(n, in, out, x, dy, dw, rows, nrows, accumulate);
  const T beta = accumulate ? T(1) : T(0);
  for_each_run(rows, nrows, [&](i64, i64 r0, i64 len) {
    gemm<T>(true, false, len, out, n, T(1), x + r0, in, dy, out, beta, dw + r0 * out, out);
  });
}

#define PYFROZEN_DENSE_BW_INSTANTIATE(T)                                                    \
  template PYFROZEN_API void dense_backward_weight_columns<T>(                             \
      std::int64_t, std::int64_t, std::int64_t, const T*, const T*, T*, const std::int64_t*, \
      std::int64_t, bool);                                                                 \
  template PYFROZEN_API void dense_backward_weight_rows<T>(                                \
      std::int64_t, std::int64_t, std::int64_t, const T*, const T*, T*, const std::int64_t*, \
      std::int64_t, bool);
PYFROZEN_DENSE_BW_INSTANTIATE(float)
PYFROZEN_DENSE_BW_INSTANTIATE(double)

}  // namespace pyfrozen
