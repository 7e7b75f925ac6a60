#pragma once
// Private: what the batchnorm kernels share. x is a rows x C matrix; work is cut into
// a grid of tasks (a chunk of rows x a block of channels) that threads take
// dynamically. The grid depends only on the sizes, never on the thread count, and
// reductions write one partial sum per row chunk, merged in chunk order: results are
// bit-identical for any number of threads.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "batchnorm/kernels.hpp"
#include "parallel.hpp"

namespace pyfrozen::detail::bn {

using i64 = std::int64_t;

// Row chunks of a reduction: partial sums to merge, and tasks for the threads.
constexpr i64 kMaxRowChunks = 32;

struct Grid {
  i64 rows, channels;
  i64 chunk_rows, n_chunks;  // row chunks: a multiple of kBlockRows rows each
  i64 n_cblocks;             // channel blocks of kChannelBlock
  i64 tasks() const { return n_chunks * n_cblocks; }
};

inline Grid make_grid(i64 rows, i64 channels) {
  Grid g{rows, channels, kBlockRows, 1, 1};
  const i64 per_chunk = (rows + kMaxRowChunks - 1) / kMaxRowChunks;
  g.chunk_rows = std::max<i64>(kBlockRows, (per_chunk + kBlockRows - 1) / kBlockRows * kBlockRows);
  g.n_chunks = std::max<i64>(1, (rows + g.chunk_rows - 1) / g.chunk_rows);
  g.n_cblocks = std::max<i64>(1, (channels + kChannelBlock - 1) / kChannelBlock);
  return g;
}

/// One task: rows [r0, r1) of row chunk `chunk`, channels [c0, c0 + nc).
struct Tile {
  i64 chunk, r0, r1, c0, nc;
};

/// Runs task(tile) for every tile of the grid on nt threads (one parallel region,
/// dynamic scheduling). task must not throw.
template <typename Task>
void for_each_tile(const Grid& g, int nt, Task&& task) {
  const i64 n = g.tasks();
  run_team(nt, [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 t = 0; t < n; ++t) {
      const i64 chunk = t / g.n_cblocks, cb = t % g.n_cblocks;
      const i64 r0 = chunk * g.chunk_rows, c0 = cb * kChannelBlock;
      task(Tile{chunk, r0, std::min(g.rows, r0 + g.chunk_rows), c0,
                std::min(g.channels - c0, kChannelBlock)});
    }
  });
}

/// Up to two per-channel sums over a tile's rows. row(r, acc0, acc1) adds row r's terms
/// for channels c0.. c0+nc-1 into acc0[0..nc) / acc1[0..nc) (T, on the stack); every
/// kBlockRows rows they are added into part0 / part1 (double, nc values each; nullptr:
/// that sum is not wanted). Zeroes the partials first.
template <typename T, typename Row>
void tile_sums(const Tile& t, double* part0, double* part1, Row&& row) {
  alignas(64) T acc0[kChannelBlock];
  alignas(64) T acc1[kChannelBlock];
  if (part0) std::fill(part0, part0 + t.nc, 0.0);
  if (part1) std::fill(part1, part1 + t.nc, 0.0);
  for (i64 rb = t.r0; rb < t.r1; rb += kBlockRows) {
    std::fill(acc0, acc0 + t.nc, T(0));
    std::fill(acc1, acc1 + t.nc, T(0));
    const i64 re = std::min(t.r1, rb + kBlockRows);
    for (i64 r = rb; r < re; ++r) row(r, acc0, acc1);
    if (part0)
      for (i64 c = 0; c < t.nc; ++c) part0[c] += static_cast<double>(acc0[c]);
    if (part1)
      for (i64 c = 0; c < t.nc; ++c) part1[c] += static_cast<double>(acc1[c]);
  }
}

/// Partial sums of one quantity: n_chunks rows of C doubles (chunk-major).
struct Partials {
  double* data;
  i64 channels;
  double* at(const Tile& t) const { return data + t.chunk * channels + t.c0; }
  /// Sum over the chunks, in chunk order (deterministic), into out[0..C).
  void merge(i64 n_chunks, double* out) const {
    for (i64 c = 0; c < channels; ++c) out[c] = 0.0;
    for (i64 k = 0; k < n_chunks; ++k)
      for (i64 c = 0; c < channels; ++c) out[c] += data[k * channels + c];
  }
};

// ---- argument checks (checks.cpp): throw ShapeError naming the op ------------------
void check_sizes(const char* op, i64 rows, i64 channels);
void check_epsilon(const char* op, double epsilon);
void check_momentum(const char* op, double momentum);
/// ptr must be non-null when `needed` (and the tensor it points to is not empty).
void check_pointer(const char* op, const char* name, const void* ptr, bool needed);

}  // namespace pyfrozen::detail::bn
