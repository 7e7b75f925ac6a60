#pragma once
// 2-D pooling over NHWC tensors: max and average (forward and backward) with explicit
// padding, and global average pooling.
#include <cstdint>

#include "pyfrozen/export.hpp"

namespace pyfrozen {

/// Window, strides and explicit zero-size padding of a 2-D pooling. Padded cells are
/// never part of a result: max ignores them, average divides by the number of real
/// cells in each window (TF/Keras 'same' semantics; torch's count_include_pad=False).
/// Each padding must be smaller than the window along its axis, so every window
/// holds at least one real cell.
struct Pool2d {
  std::int64_t pool_h, pool_w;
  std::int64_t stride_h, stride_w;
  std::int64_t pad_top, pad_bottom, pad_left, pad_right;
};

/// TF 'same' padding for an h x w input: out = ceil(in / stride), total padding
/// max((out - 1) * stride + pool - in, 0), split with the extra row/column at the
/// bottom/right. Throws ShapeError for a non-positive pool size or stride.
PYFROZEN_API Pool2d pool2d_same(std::int64_t h, std::int64_t w, std::int64_t pool_h,
                                std::int64_t pool_w, std::int64_t stride_h,
                                std::int64_t stride_w);

/// Output height and width of pooling an h x w input:
/// (in + pad_lo + pad_hi - pool) / stride + 1 along each axis.
/// Throws ShapeError (naming `op`, the input and the window) for non-positive pool
/// sizes or strides, negative padding, padding not smaller than the window, or a window
/// larger than the padded input.
struct PoolOutput {
  std::int64_t h, w;
};
PYFROZEN_API PoolOutput pool2d_output(const char* op, std::int64_t h, std::int64_t w,
                                      const Pool2d& p);

/// y (n x oh x ow x c) = the max of each window of x (n x h x w x c), padded cells
/// ignored. A NaN in a window makes its result NaN. y is only written; no overlap with x.
/// Counts ("max_pool2d", forward, n * oh * ow * c * pool_h * pool_w).
template <typename T>
PYFROZEN_API void max_pool2d_forward(std::int64_t n, std::int64_t h, std::int64_t w,
                                     std::int64_t c, const Pool2d& p, const T* x, T* y);

/// dx (n x h x w x c) = each dy routed to the argmax of its window, recomputed from x
/// (no saved indices): the first maximum in row-major window order on ties (the first
/// NaN if any); overlapping windows (stride < pool) accumulate. dx is overwritten (cells
/// that are no window's argmax get 0) and must not overlap x or dy.
/// Counts ("max_pool2d", backward_input, the forward's work).
template <typename T>
PYFROZEN_API void max_pool2d_backward(std::int64_t n, std::int64_t h, std::int64_t w,
                                      std::int64_t c, const Pool2d& p, const T* x, const T* dy,
                                      T* dx);

/// y = the mean of the real (non-padded) cells of each window. No overlap of y with x.
/// Counts ("avg_pool2d", forward, n * oh * ow * c * pool_h * pool_w).
template <typename T>
PYFROZEN_API void avg_pool2d_forward(std::int64_t n, std::int64_t h, std::int64_t w,
                                     std::int64_t c, const Pool2d& p, const T* x, T* y);

/// dx (n x h x w x c): each dy spread evenly over the real cells of its window;
/// overlapping windows accumulate. dx is overwritten; no overlap with dy.
/// Counts ("avg_pool2d", backward_input, the forward's work).
template <typename T>
PYFROZEN_API void avg_pool2d_backward(std::int64_t n, std::int64_t h, std::int64_t w,
                                      std::int64_t c, const Pool2d& p, const T* dy, T* dx);

/// y (n x c) = mean of x (n x h x w x c) over h and w (summed in double). h * w must be
/// positive. No overlap. Counts ("global_avg_pool", forward, n * h * w * c).
template <typename T>
PYFROZEN_API void global_avg_pool_forward(std::int64_t n, std::int64_t h, std::int64_t w,
                                          std::int64_t c, const T* x, T* y);

/// dx (n x h x w x c) = dy[n, c] / (h * w) everywhere. Overwritten; no overlap.
/// Counts ("global_avg_pool", backward_input, n * h * w * c).
template <typename T>
PYFROZEN_API void global_avg_pool_backward(std::int64_t n, std::int64_t h, std::int64_t w,
                                           std::int64_t c, const T* dy, T* dx);

#define PYFROZEN_POOLING_EXTERN(T)                                                          \
  extern template void max_pool2d_forward<T>(std::int64_t, std::int64_t, std::int64_t,      \
                                             std::int64_t, const Pool2d&, const T*, T*);    \
  extern template void max_pool2d_backward<T>(std::int64_t, std::int64_t, std::int64_t,     \
                                              std::int64_t, const Pool2d&, const T*,        \
                                              const T*, T*);                                \
  extern template void avg_pool2d_forward<T>(std::int64_t, std::int64_t, std::int64_t,      \
                                             std::int64_t, const Pool2d&, const T*, T*);    \
  extern template void avg_pool2d_backward<T>(std::int64_t, std::int64_t, std::int64_t,     \
                                              std::int64_t, const Pool2d&, const T*, T*);   \
  extern template void global_avg_pool_forward<T>(std::int64_t, std::int64_t, std::int64_t, \
                                                  std::int64_t, const T*, T*);              \
  extern template void global_avg_pool_backward<T>(std::int64_t, std::int64_t,              \
                                                   std::int64_t, std::int64_t, const T*, T*);
PYFROZEN_POOLING_EXTERN(float)
PYFROZEN_POOLING_EXTERN(double)
#undef PYFROZEN_POOLING_EXTERN

}  // namespace pyfrozen
