#pragma once
// Dense-layer and embedding helpers: weight gradients limited to the trainable columns
// or rows (what a freeze mask needs), and row gather / scatter-add for embeddings.
#include <cstdint>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// dW[:, cols] = X^T @ dY[:, cols] (accumulate: dW[:, cols] += ...), only for the listed
/// output columns; the other columns of dW are neither read nor written.
///
/// - x: n x in, dy: n x out, dw: in x out, all row-major and contiguous.
/// - cols: ncols column indices, strictly increasing, in [0, out). Contiguous runs go
///   straight to gemm with dW's and dY's leading dimensions; when the runs are short
///   (on average < 16 columns) the listed columns of dY are packed once and one gemm
///   computes them all. n == 0 gives zeros (or leaves dW as is when accumulating).
/// - dw must not overlap x or dy (ShapeError if it does).
/// - Counter "dense", Pass::backward_weight, work n * in * ncols multiply-adds.
/// Throws ShapeError for negative sizes or bad column indices (naming the index).
template <typename T>
PYFROZEN_API void dense_backward_weight_columns(std::int64_t n, std::int64_t in,
                                                std::int64_t out, const T* x, const T* dy, T* dw,
                                                const std::int64_t* cols, std::int64_t ncols,
                                                bool accumulate = false);

/// dW[rows, :] = X[:, rows]^T @ dY (accumulate: +=), only for the listed input features;
/// the other rows of dW are neither read nor written. Shapes, runs, aliasing and errors
/// as for dense_backward_weight_columns; rows strictly increasing in [0, in).
/// Counter "dense", Pass::backward_weight, work n * nrows * out multiply-adds.
template <typename T>
PYFROZEN_API void dense_backward_weight_rows(std::int64_t n, std::int64_t in, std::int64_t out,
                                             const T* x, const T* dy, T* dw,
                                             const std::int64_t* rows, std::int64_t nrows,
                                             bool accumulate = false);

/// out[i, :] = table[indices[i], :] for i < n (embedding lookup).
///
/// - table: v x d, out: n x d, row-major contiguous; out must not overlap table.
/// - Every index is checked before anything is written: ShapeError naming the first
///   index outside [0, v), its position and v. Negative indices are errors (no wrap).
/// - Counter "gather", Pass::forward, work n * d elements.
template <typename T>
PYFROZEN_API void gather_rows(std::int64_t v, std::int64_t d, const T* table,
                              const std::int64_t* indices, std::int64_t n, T* out);

/// dtable[indices[i], :] += grad[i, :] for i < n (embedding backward); duplicate indices
/// add up. dtable is read and written (zero it first for a fresh gradient).
///
/// - grad: n x d, dtable: v x d, row-major contiguous; dtable must not overlap grad.
/// - frozen_rows (optional, nullptr = none): v bytes, nonzero = frozen; those rows of
///   dtable are left untouched and cost nothing.
/// - Each row receives its contributions in the order of i, whatever the thread count,
///   so results are deterministic (threads own disjoint rows or column blocks: no races).
/// - Indices are checked as for gather_rows, before anything is written.
/// - Counter "scatter_add", Pass::backward_weight, work = elements added (frozen rows
///   excluded).
template <typename T>
PYFROZEN_API void scatter_add_rows(std::int64_t v, std::int64_t d, const T* grad,
                                   const std::int64_t* indices, std::int64_t n, T* dtable,
                                   const std::uint8_t* frozen_rows = nullptr);

#define PYFROZEN_DENSE_EXTERN(T)                                                            \
  extern template void dense_backward_weight_columns<T>(std::int64_t, std::int64_t,        \
                                                        std::int64_t, const T*, const T*,  \
                                                        T*, const std::int64_t*,           \
                                                        std::int64_t, bool);               \
  extern template void dense_backward_weight_rows<T>(std::int64_t, std::int64_t,           \
                                                     std::int64_t, const T*, const T*, T*, \
                                                     const std::int64_t*, std::int64_t, bool); \
  extern template void gather_rows<T>(std::int64_t, std::int64_t, const T*,                \
                                      const std::int64_t*, std::int64_t, T*);              \
  extern template void scatter_add_rows<T>(std::int64_t, std::int64_t, const T*,           \
                                           const std::int64_t*, std::int64_t, T*,          \
                                           const std::uint8_t*);
PYFROZEN_DENSE_EXTERN(float)
PYFROZEN_DENSE_EXTERN(double)
#undef PYFROZEN_DENSE_EXTERN

}  // namespace pyfrozen
