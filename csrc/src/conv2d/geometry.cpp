// Validation of convolution arguments, the padding helper and channel selections.
#include "conv2d/geometry.hpp"

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "pyfrozen/errors.hpp"

namespace pyfrozen {
namespace detail {
namespace {

std::string s(i64 v) { return std::to_string(v); }

[[noreturn]] void fail(const char* op, const std::string& what, const Conv2dShape& sh) {
  throw ShapeError(std::string(op) + ": " + what + " " + describe(sh));
}

i64 extent(i64 k, i64 dilation) { return (k - 1) * dilation + 1; }

// Kernel sizes, strides, dilations and paddings stay below 2^31, so products such as
// (k - 1) * dilation cannot overflow.
constexpr i64 kMaxParam = i64{1} << 31;

void check_positive(const char* op, const Conv2dShape& sh, const Conv2dParams& p) {
  const Conv2dPadding& pd = p.padding;
  for (i64 v : {sh.kh, sh.kw, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, pd.top,
                pd.bottom, pd.left, pd.right, p.groups})
    if (v >= kMaxParam)
      fail(op, "kernel sizes, strides, dilations, paddings and groups must be below 2^31", sh);
  if (sh.n < 0 || sh.h < 1 || sh.w < 1 || sh.c < 1)
    fail(op, "input sizes must be positive (batch may be 0)", sh);
  if (sh.kh < 1 || sh.kw < 1 || sh.kc < 1 || sh.c_out < 1)
    fail(op, "kernel sizes must be positive", sh);
  if (p.stride_h < 1 || p.stride_w < 1)
    fail(op, "stride must be >= 1, got (" + s(p.stride_h) + ", " + s(p.stride_w) + ")", sh);
  if (p.dilation_h < 1 || p.dilation_w < 1)
    fail(op, "dilation must be >= 1, got (" + s(p.dilation_h) + ", " + s(p.dilation_w) + ")",
         sh);
}

void check_groups(const char* op, const Conv2dShape& sh, const Conv2dParams& p) {
  if (p.groups < 1) fail(op, "groups must be >= 1, got " + s(p.groups), sh);
  if (sh.c % p.groups != 0 || sh.c_out % p.groups != 0)
    fail(op, "groups=" + s(p.groups) + " must divide the " + s(sh.c) + " input and " +
                 s(sh.c_out) + " output channels",
         sh);
  if (sh.kc * p.groups != sh.c)
    fail(op, "input has " + s(sh.c) + " channels but kernel expects " + s(sh.kc * p.groups) +
                 (p.groups > 1 ? " (" + s(sh.kc) + " per group x groups=" + s(p.groups) + ")"
                               : std::string()),
         sh);
}

void check_padding(const char* op, const Conv2dShape& sh, const Conv2dParams& p) {
  const Conv2dPadding& pd = p.padding;
  const i64 eh = extent(sh.kh, p.dilation_h), ew = extent(sh.kw, p.dilation_w);
  const std::string all = "(padding (" + s(pd.top) + ", " + s(pd.bottom) + ", " + s(pd.left) +
                          ", " + s(pd.right) + "), dilated kernel " + s(eh) + "x" + s(ew) + ")";
  if (pd.top < 0 || pd.bottom < 0 || pd.left < 0 || pd.right < 0)
    fail(op, "padding must be non-negative " + all, sh);
  if (std::max(pd.top, pd.bottom) >= eh || std::max(pd.left, pd.right) >= ew)
    fail(op, "padding must be smaller than the dilated kernel extent " + all, sh);
}

}  // namespace

std::string describe(const Conv2dShape& sh) {
  return "(input (" + s(sh.n) + ", " + s(sh.h) + ", " + s(sh.w) + ", " + s(sh.c) +
         "), kernel (" + s(sh.kh) + ", " + s(sh.kw) + ", " + s(sh.kc) + ", " + s(sh.c_out) +
         "))";
}

ConvGeom make_geom(const char* op, const Conv2dShape& sh, const Conv2dParams& p) {
  check_positive(op, sh, p);
  check_groups(op, sh, p);
  check_padding(op, sh, p);
  const Conv2dPadding& pd = p.padding;
  const i64 eh = extent(sh.kh, p.dilation_h), ew = extent(sh.kw, p.dilation_w);
  const i64 hp = sh.h + pd.top + pd.bottom, wp = sh.w + pd.left + pd.right;
  if (hp < eh || wp < ew)
    fail(op, "output would be empty: padded input " + s(hp) + "x" + s(wp) +
                 " is smaller than the dilated kernel " + s(eh) + "x" + s(ew),
         sh);
  ConvGeom g{};
  g.n = sh.n, g.h = sh.h, g.w = sh.w, g.c = sh.c;
  g.kh = sh.kh, g.kw = sh.kw, g.kc = sh.kc, g.co = sh.c_out;
  g.sh = p.stride_h, g.sw = p.stride_w, g.dh = p.dilation_h, g.dw = p.dilation_w;
  g.pt = pd.top, g.pb = pd.bottom, g.pl = pd.left, g.pr = pd.right;
  g.groups = p.groups;
  g.oh = (hp - eh) / g.sh + 1;
  g.ow = (wp - ew) / g.sw + 1;
  g.cog = g.co / g.groups;
  return g;
}

std::vector<ChannelRun> channel_runs(const char* op, const ConvGeom& g, const i64* channels,
                                     i64 n_channels, i64 group_size) {
  std::vector<ChannelRun> runs;
  if (channels == nullptr) {
    for (i64 b = 0; b < g.co; b += group_size) runs.push_back({b, b + group_size});
    return runs;
  }
  if (n_channels < 0) throw ShapeError(std::string(op) + ": n_channels must be >= 0");
  std::vector<i64> sorted(channels, channels + n_channels);
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const i64 o = sorted[i];
    if (o < 0 || o >= g.co)
      throw ShapeError(std::string(op) + ": channel " + s(o) + " is out of range for " +
                       s(g.co) + " output channels");
    if (i > 0 && o == sorted[i - 1])
      throw ShapeError(std::string(op) + ": channel " + s(o) + " is listed twice");
    if (!runs.empty() && runs.back().end == o && o % group_size != 0)
      ++runs.back().end;
    else
      runs.push_back({o, o + 1});
  }
  return runs;
}

int team_rank() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace detail

Conv2dPadding conv2d_padding(std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw,
                             std::int64_t stride_h, std::int64_t stride_w,
                             std::int64_t dilation_h, std::int64_t dilation_w,
                             Conv2dPaddingMode mode) {
  using detail::s;
  if (h < 1 || w < 1 || kh < 1 || kw < 1 || stride_h < 1 || stride_w < 1 || dilation_h < 1 ||
      dilation_w < 1)
    throw ShapeError("conv2d_padding: sizes, strides and dilations must be positive, got input " +
                     s(h) + "x" + s(w) + ", kernel " + s(kh) + "x" + s(kw) + ", stride (" +
                     s(stride_h) + ", " + s(stride_w) + "), dilation (" + s(dilation_h) + ", " +
                     s(dilation_w) + ")");
  for (std::int64_t v : {h, w, kh, kw, stride_h, stride_w, dilation_h, dilation_w})
    if (v >= detail::kMaxParam)
      throw ShapeError("conv2d_padding: sizes, strides and dilations must be below 2^31");
  if (mode == Conv2dPaddingMode::valid) return {};
  // TensorFlow's rule: out = ceil(size / stride); the odd pixel goes to the end.
  auto split = [](std::int64_t size, std::int64_t k, std::int64_t st, std::int64_t d) {
    const std::int64_t out = (size + st - 1) / st;
    const std::int64_t total = std::max<std::int64_t>((out - 1) * st + (k - 1) * d + 1 - size, 0);
    return std::pair<std::int64_t, std::int64_t>{total / 2, total - total / 2};
  };
  const auto [top, bottom] = split(h, kh, stride_h, dilation_h);
  const auto [left, right] = split(w, kw, stride_w, dilation_w);
  return {top, bottom, left, right};
}

Conv2dOutputSize conv2d_output_size(const Conv2dShape& shape, const Conv2dParams& params) {
  const detail::ConvGeom g = detail::make_geom("conv2d", shape, params);
  return {g.oh, g.ow};
}

}  // namespace pyfrozen
