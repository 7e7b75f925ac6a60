// Embedding rows: gather (forward) and scatter-add (weight gradient). Indices are
// checked before anything is written; scatter-add splits the destination among threads
// (rows, or column blocks for wide rows) so no two threads ever add to the same element
// and each element sums its contributions in index order.
#include <cstring>
#include <string>

#include "dense/checks.hpp"
#include "parallel.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/dense.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

constexpr i64 kColumnBlock = 64;              // scatter-add splits columns from 2 blocks up
constexpr i64 kTasksPerThread = 4;

std::string position(i64 i) { return "indices[" + std::to_string(i) + "]"; }

/// ShapeError naming the first index outside [0, v).
void check_indices(const char* op, const i64* idx, i64 n, i64 v) {
  for (i64 i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= v)
      throw ShapeError(std::string(op) + ": index " + std::to_string(idx[i]) + " at " +
                       position(i) + " is out of range for a table of " + std::to_string(v) +
                       " rows");
}

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// Rows [r0, r1) of dtable receive their contributions, columns [c0, c1).
template <typename T>
void scatter_part(i64 d, const T* grad, const i64* idx, i64 n, T* dtable,
                  const std::uint8_t* frozen, i64 r0, i64 r1, i64 c0, i64 c1) {
  for (i64 i = 0; i < n; ++i) {
    const i64 r = idx[i];
    if (r < r0 || r >= r1 || (frozen != nullptr && frozen[r] != 0)) continue;
    T* dst = dtable + r * d;
    const T* src = grad + i * d;
    for (i64 c = c0; c < c1; ++c) dst[c] += src[c];
  }
}

}  // namespace
}  // namespace detail

template <typename T>
void gather_rows(std::int64_t v, std::int64_t d, const T* table, const std::int64_t* indices,
                 std::int64_t n, T* out) {
  using namespace detail;
  const char* op = "gather_rows";
  check_sizes(op, {{"v", v}, {"d", d}, {"n", n}});
  const i64 s = static_cast<i64>(sizeof(T));
  check_disjoint(op, "out", out, n * d * s, "table", table, v * d * s);
  check_disjoint(op, "out", out, n * d * s, "indices", indices, n * 8);
  check_indices(op, indices, n, v);
  count_kernel("gather", Pass::forward, n * d);
  if (d == 0) return;
  const int nt = threads_for(static_cast<double>(n * d), kSerialElements);
  run_team(nt, [&] {
#pragma omp for schedule(static)
    for (i64 i = 0; i < n; ++i)
      std::memcpy(out + i * d, table + indices[i] * d, static_cast<std::size_t>(d) * sizeof(T));
  });
}

template <typename T>
void scatter_add_rows(std::int64_t v, std::int64_t d, const T* grad, const std::int64_t* indices,
                      std::int64_t n, T* dtable, const std::uint8_t* frozen_rows) {
  using namespace detail;
  const char* op = "scatter_add_rows";
  check_sizes(op, {{"v", v}, {"d", d}, {"n", n}});
  const i64 s = static_cast<i64>(sizeof(T));
  check_disjoint(op, "dtable", dtable, v * d * s, "grad", grad, n * d * s);
  check_disjoint(op, "dtable", dtable, v * d * s, "indices", indices, n * 8);
  check_disjoint(op, "dtable", dtable, v * d * s, "frozen_rows", frozen_rows,
                 frozen_rows != nullptr ? v : 0);
  check_indices(op, indices, n, v);
  i64 added = n;
  if (frozen_rows != nullptr)
    for (i64 i = 0; i < n; ++i) added -= frozen_rows[indices[i]] != 0;
  count_kernel("scatter_add", Pass::backward_weight, added * d);
  if (d == 0 || added == 0) return;
  const int nt = threads_for(static_cast<double>(added * d), kSerialElements);
  if (nt == 1) return scatter_part(d, grad, indices, n, dtable, frozen_rows, 0, v, 0, d);
  // Wide rows: threads own column blocks. Narrow rows: threads own ranges of rows
  // (each scans all indices, which is cheap next to the adds it then makes).
  const bool by_columns = d >= 2 * kColumnBlock;
  const i64 tasks = by_columns ? ceil_div(d, kColumnBlock)
                               : (v < kTasksPerThread * nt ? v : kTasksPerThread * nt);
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 t = 0; t < tasks; ++t) {
      if (by_columns) {
        const i64 c0 = t * kColumnBlock, c1 = c0 + kColumnBlock < d ? c0 + kColumnBlock : d;
        scatter_part(d, grad, indices, n, dtable, frozen_rows, 0, v, c0, c1);
      } else {
        scatter_part(d, grad, indices, n, dtable, frozen_rows, t * v / tasks, (t + 1) * v / tasks,
                     0, d);
      }
    }
  });
}

#define PYFROZEN_EMBEDDING_INSTANTIATE(T)                                                 \
  template PYFROZEN_API void gather_rows<T>(std::int64_t, std::int64_t, const T*,        \
                                            const std::int64_t*, std::int64_t, T*);      \
  template PYFROZEN_API void scatter_add_rows<T>(std::int64_t, std::int64_t, const T*,   \
                                                 const std::int64_t*, std::int64_t, T*,  \
                                                 const std::uint8_t*);
PYFROZEN_EMBEDDING_INSTANTIATE(float)
PYFROZEN_EMBEDDING_INSTANTIATE(double)

}  // namespace pyfrozen
