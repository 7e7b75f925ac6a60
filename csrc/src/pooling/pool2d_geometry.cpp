// Pooling geometry: TF 'same' padding and the checked output size.
#include <string>

#include "pyfrozen/errors.hpp"
#include "pyfrozen/pooling.hpp"

namespace pyfrozen {
namespace {

using i64 = std::int64_t;

std::string describe(i64 h, i64 w, const Pool2d& p) {
  auto x = [](i64 a, i64 b) { return std::to_string(a) + "x" + std::to_string(b); };
  return "(input " + x(h, w) + ", pool " + x(p.pool_h, p.pool_w) + ", strides " +
         x(p.stride_h, p.stride_w) + ", padding top " + std::to_string(p.pad_top) + " bottom " +
         std::to_string(p.pad_bottom) + " left " + std::to_string(p.pad_left) + " right " +
         std::to_string(p.pad_right) + ")";
}

[[noreturn]] void fail(const char* op, const std::string& why, i64 h, i64 w, const Pool2d& p) {
  throw ShapeError(std::string(op) + ": " + why + " " + describe(h, w, p));
}

i64 same_pad(i64 in, i64 pool, i64 stride) {
  const i64 out = (in + stride - 1) / stride;
  const i64 total = (out - 1) * stride + pool - in;
  return total > 0 ? total : 0;
}

}  // namespace

Pool2d pool2d_same(i64 h, i64 w, i64 pool_h, i64 pool_w, i64 stride_h, i64 stride_w) {
  Pool2d p{pool_h, pool_w, stride_h, stride_w, 0, 0, 0, 0};
  if (pool_h <= 0 || pool_w <= 0 || stride_h <= 0 || stride_w <= 0)
    fail("pool2d_same", "pool sizes and strides must be positive", h, w, p);
  const i64 ph = same_pad(h, pool_h, stride_h), pw = same_pad(w, pool_w, stride_w);
  // TF puts the odd row / column at the bottom / right.
  p.pad_top = ph / 2;
  p.pad_bottom = ph - ph / 2;
  p.pad_left = pw / 2;
  p.pad_right = pw - pw / 2;
  return p;
}

PoolOutput pool2d_output(const char* op, i64 h, i64 w, const Pool2d& p) {
  if (p.pool_h <= 0 || p.pool_w <= 0) fail(op, "pool sizes must be positive", h, w, p);
  if (p.stride_h <= 0 || p.stride_w <= 0) fail(op, "strides must be positive", h, w, p);
  if (p.pad_top < 0 || p.pad_bottom < 0 || p.pad_left < 0 || p.pad_right < 0)
    fail(op, "padding must be non-negative", h, w, p);
  if (h <= 0 || w <= 0) fail(op, "the input must have a positive height and width", h, w, p);
  // A padding as large as the window would make windows of padding only.
  if (p.pad_top >= p.pool_h || p.pad_bottom >= p.pool_h || p.pad_left >= p.pool_w ||
      p.pad_right >= p.pool_w)
    fail(op, "each padding must be smaller than the pool size along its axis", h, w, p);
  if (h + p.pad_top + p.pad_bottom < p.pool_h || w + p.pad_left + p.pad_right < p.pool_w)
    fail(op, "the pool window is larger than the padded input", h, w, p);
  return {(h + p.pad_top + p.pad_bottom - p.pool_h) / p.stride_h + 1,
          (w + p.pad_left + p.pad_right - p.pool_w) / p.stride_w + 1};
}

}  // namespace pyfrozen
