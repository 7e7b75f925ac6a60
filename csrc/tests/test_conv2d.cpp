// pyfrozen conv2d_* against naive loops accumulated in double, in float and double, for
// general, grouped, depthwise (multiplier 1 and 2) and 1x1 convolutions with strides,
// dilations and asymmetric padding, the fused epilogue, the channel-limited
// backward-weight, on every ISA path this CPU runs, with 1 and 2 threads.
// Public API only: this file is also built against the installed package.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"
#include "rng.hpp"

namespace {

using i64 = std::int64_t;
using pyfrozen::Conv2dParams;
using pyfrozen::Conv2dShape;

using pyfrozen_test::Rng;

struct Case {
  const char* name;
  Conv2dShape s;
  Conv2dParams p;
};

// ---- naive references in double ---------------------------------------------------------

struct Geo {
  Conv2dShape s;
  Conv2dParams p;
  i64 oh, ow, cog;
  i64 xi(i64 n, i64 h, i64 w, i64 c) const { return ((n * s.h + h) * s.w + w) * s.c + c; }
  i64 yi(i64 n, i64 h, i64 w, i64 o) const { return ((n * oh + h) * ow + w) * s.c_out + o; }
  i64 wi(i64 a, i64 b, i64 ci, i64 o) const { return ((a * s.kw + b) * s.kc + ci) * s.c_out + o; }
  // Calls f(x index, w index, y index) for every term of the convolution sum.
  template <typename F>
  void each_term(F&& f) const {
    for (i64 n = 0; n < s.n; ++n)
      for (i64 i = 0; i < oh; ++i)
        for (i64 j = 0; j < ow; ++j)
          for (i64 o = 0; o < s.c_out; ++o)
            for (i64 a = 0; a < s.kh; ++a)
              for (i64 b = 0; b < s.kw; ++b) {
                const i64 ih = i * p.stride_h + a * p.dilation_h - p.padding.top;
                const i64 iw = j * p.stride_w + b * p.dilation_w - p.padding.left;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                for (i64 ci = 0; ci < s.kc; ++ci)
                  f(xi(n, ih, iw, (o / cog) * s.kc + ci), wi(a, b, ci, o), yi(n, i, j, o));
              }
  }
};

Geo geo(const Case& c) {
  const pyfrozen::Conv2dOutputSize o = pyfrozen::conv2d_output_size(c.s, c.p);
  return {c.s, c.p, o.h, o.w, c.s.c_out / c.p.groups};
}

template <typename T>
std::vector<T> random(size_t n, Rng& rng) {
  std::vector<T> v(n);
  for (T& e : v) e = static_cast<T>(rng.next());
  return v;
}

template <typename T>
double tol(i64 k) {
  return (sizeof(T) == 4 ? 1e-6 : 1e-14) * 8 * std::sqrt(static_cast<double>(std::max<i64>(k, 1)));
}

// |got - want| <= tol * mag elementwise; "" or a description of the first miss.
template <typename T>
std::string compare(const std::vector<T>& got, const std::vector<double>& want,
                    const std::vector<double>& mag, double t, const char* what) {
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= t * mag[i] + 1e-300)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, expected %.9g", what, i,
                    static_cast<double>(got[i]), want[i]);
      return buf;
    }
  return "";
}

template <typename T>
std::string describe(const Case& c) {
  return std::string(c.name) + (sizeof(T) == 4 ? " float" : " double") + " isa=" +
         pyfrozen::isa_name(pyfrozen::active_isa()) +
         " threads=" + std::to_string(pyfrozen::get_num_threads());
}

// ---- one case: every pass -----------------------------------------------------------------

template <typename T>
void run_case(const Case& c, std::uint64_t seed) {
  const Geo g = geo(c);
  Rng rng(seed);
  const size_t nx = static_cast<size_t>(c.s.n * c.s.h * c.s.w * c.s.c);
  const size_t nw = static_cast<size_t>(c.s.kh * c.s.kw * c.s.kc * c.s.c_out);
  const size_t ny = static_cast<size_t>(c.s.n * g.oh * g.ow * c.s.c_out);
  const auto x = random<T>(nx, rng), w = random<T>(nw, rng), dy = random<T>(ny, rng);
  auto scale = random<T>(static_cast<size_t>(c.s.c_out), rng);
  const auto shift = random<T>(static_cast<size_t>(c.s.c_out), rng);
  std::vector<double> y_ref(ny, 0), y_mag(ny, 0), dx_ref(nx, 0), dx_mag(nx, 0), dw_ref(nw, 0),
      dw_mag(nw, 0);
  g.each_term([&](i64 xi, i64 wi, i64 yi) {
    const double xv = x[xi], wv = w[wi], dv = dy[yi];
    y_ref[yi] += xv * wv, y_mag[yi] += std::fabs(xv * wv);
    dx_ref[xi] += dv * wv, dx_mag[xi] += std::fabs(dv * wv);
    dw_ref[wi] += xv * dv, dw_mag[wi] += std::fabs(xv * dv);
  });
  const std::string name = describe<T>(c);
  const i64 k = c.s.kh * c.s.kw * c.s.kc;

  // forward with the epilogue: relu6(acc * scale + shift)
  std::vector<T> y(ny, T(-99));
  pyfrozen::Conv2dEpilogue<T> ep;
  ep.scale = scale.data();
  ep.shift = shift.data();
  ep.activation = pyfrozen::Activation::relu6;
  pyfrozen::conv2d_forward<T>(c.s, c.p, x.data(), w.data(), y.data(), ep);
  std::vector<double> y_ep(ny), y_ep_mag(ny);
  for (size_t i = 0; i < ny; ++i) {
    const size_t o = i % static_cast<size_t>(c.s.c_out);
    y_ep[i] = std::clamp(y_ref[i] * scale[o] + shift[o], 0.0, 6.0);
    y_ep_mag[i] = y_mag[i] * std::fabs(scale[o]) + std::fabs(shift[o]) + 1;
  }
  CHECK_MSG(compare(y, y_ep, y_ep_mag, tol<T>(k), "y").empty(),
            name + ": " + compare(y, y_ep, y_ep_mag, tol<T>(k), "y"));

  // backward-input, output poisoned with NaN: every element must be written
  std::vector<T> dx(nx, std::nan(""));
  pyfrozen::conv2d_backward_input<T>(c.s, c.p, dy.data(), w.data(), dx.data());
  const double tdx = tol<T>(c.s.kh * c.s.kw * c.s.c_out);
  CHECK_MSG(compare(dx, dx_ref, dx_mag, tdx, "dx").empty(),
            name + ": " + compare(dx, dx_ref, dx_mag, tdx, "dx"));

  // backward-weight: all channels, then every other one (others untouched)
  const double tdw = tol<T>(c.s.n * g.oh * g.ow);
  std::vector<T> dw(nw, std::nan(""));
  pyfrozen::conv2d_backward_weight<T>(c.s, c.p, x.data(), dy.data(), dw.data());
  CHECK_MSG(compare(dw, dw_ref, dw_mag, tdw, "dw").empty(),
            name + ": " + compare(dw, dw_ref, dw_mag, tdw, "dw"));
  std::vector<i64> chosen;
  for (i64 o = c.s.c_out - 1; o >= 0; o -= 2) chosen.push_back(o);
  std::vector<T> dw_part(nw, T(-5));
  pyfrozen::conv2d_backward_weight<T>(c.s, c.p, x.data(), dy.data(), dw_part.data(),
                                      chosen.data(), static_cast<i64>(chosen.size()));
  bool limited_ok = true;
  for (size_t i = 0; i < nw; ++i) {
    const bool picked = (c.s.c_out - 1 - static_cast<i64>(i) % c.s.c_out) % 2 == 0;
    limited_ok &= picked ? std::fabs(dw_part[i] - dw_ref[i]) <= tdw * dw_mag[i] + 1e-300
                         : dw_part[i] == T(-5);
  }
  CHECK_MSG(limited_ok, name + ": channel-limited dw differs or touched other channels");

  // backward-bias
  std::vector<T> db(static_cast<size_t>(c.s.c_out), std::nan(""));
  pyfrozen::conv2d_backward_bias<T>(c.s.n * g.oh * g.ow, c.s.c_out, dy.data(), db.data());
  std::vector<double> db_ref(db.size(), 0), db_mag(db.size(), 0);
  for (size_t i = 0; i < ny; ++i) {
    db_ref[i % db.size()] += dy[i];
    db_mag[i % db.size()] += std::fabs(static_cast<double>(dy[i]));
  }
  CHECK_MSG(compare(db, db_ref, db_mag, tdw, "db").empty(), name + ": backward_bias");
}

Conv2dParams params(i64 sh, i64 sw, i64 dh, i64 dw, pyfrozen::Conv2dPadding pad, i64 groups) {
  Conv2dParams p;
  p.stride_h = sh, p.stride_w = sw, p.dilation_h = dh, p.dilation_w = dw;
  p.padding = pad, p.groups = groups;
  return p;
}

std::vector<Case> cases() {
  const auto same = [](i64 h, i64 w, i64 k, i64 s, i64 d) {
    return pyfrozen::conv2d_padding(h, w, k, k, s, s, d, d, pyfrozen::Conv2dPaddingMode::same);
  };
  return {
      {"3x3 s2 same", {2, 9, 8, 5, 3, 3, 5, 7}, params(2, 2, 1, 1, same(9, 8, 3, 2, 1), 1)},
      {"2x2 s3 valid", {1, 10, 11, 3, 2, 2, 3, 4}, params(3, 3, 1, 1, {}, 1)},
      {"dilation 2", {2, 8, 9, 4, 3, 3, 4, 5}, params(1, 1, 2, 2, same(8, 9, 3, 1, 2), 1)},
      {"groups 2", {2, 7, 6, 6, 3, 3, 3, 10}, params(1, 2, 1, 1, {1, 0, 2, 1}, 2)},
      {"pointwise", {2, 5, 6, 13, 1, 1, 13, 6}, params(1, 1, 1, 1, {}, 1)},
      {"1x1 image", {3, 1, 1, 4, 3, 3, 4, 5}, params(1, 1, 1, 1, {1, 1, 1, 1}, 1)},
      // kh * kw * c <= 64: the small-patch path (first layer of an image network)
      {"small cin 3->32 s2 same", {2, 11, 12, 3, 3, 3, 3, 32},
       params(2, 2, 1, 1, same(11, 12, 3, 2, 1), 1)},
      {"small cin 1 5x5 asym", {1, 9, 8, 1, 5, 5, 1, 13}, params(1, 2, 1, 1, {2, 0, 1, 3}, 1)},
      {"small cin 4 4x4 k64", {1, 7, 9, 4, 4, 4, 4, 9}, params(1, 1, 1, 1, {1, 2, 2, 1}, 1)},
      {"small cin 2 threads", {6, 24, 24, 3, 3, 3, 3, 32},
       params(2, 2, 1, 1, same(24, 24, 3, 2, 1), 1)},
      {"depthwise", {2, 9, 10, 13, 3, 3, 1, 13}, params(1, 1, 1, 1, {1, 1, 1, 1}, 13)},
      {"depthwise m2 s2", {2, 9, 8, 5, 3, 3, 1, 10}, params(2, 2, 1, 1, same(9, 8, 3, 2, 1), 5)},
      {"depthwise 5x5 d2", {1, 12, 11, 9, 5, 5, 1, 9}, params(1, 1, 2, 2, same(12, 11, 5, 1, 2), 9)},
      // 3x3 stride-1 sliding window: padding 2 or 0 at either end, interior blocks, tails
      {"depthwise pad 2 left", {1, 5, 13, 12, 3, 3, 1, 12}, params(1, 1, 1, 1, {2, 0, 2, 0}, 12)},
      {"depthwise pad 2 right", {1, 5, 17, 12, 3, 3, 1, 12}, params(1, 1, 1, 1, {0, 2, 0, 2}, 12)},
      // above the serial threshold, so two threads really run
      {"general 2 threads", {4, 12, 12, 8, 3, 3, 8, 16}, params(1, 1, 1, 1, {1, 1, 1, 1}, 1)},
      {"depthwise 2 threads", {8, 16, 16, 16, 3, 3, 1, 16}, params(1, 1, 1, 1, {1, 1, 1, 1}, 16)},
  };
}

// ---- errors, padding helper, counters -------------------------------------------------------

void check_errors() {
  using pyfrozen::ShapeError;
  std::vector<float> buf(4096);
  float* p = buf.data();
  const Conv2dShape ok{1, 8, 8, 3, 3, 3, 3, 4};
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_forward<float>({8, 32, 32, 3, 3, 3, 4, 16}, {}, p, p, p),
               "conv2d_forward: input has 3 channels but kernel expects 4 (input (8, 32, 32, 3), "
               "kernel (3, 3, 4, 16))");
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_forward<float>(ok, params(1, 1, 1, 1, {3, 0, 0, 0}, 1),
                                                           p, p, p),
               "padding must be smaller than the dilated kernel extent");
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_forward<float>({1, 2, 2, 3, 3, 3, 3, 4}, {}, p, p, p),
               "output would be empty: padded input 2x2 is smaller than the dilated kernel 3x3");
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_backward_input<float>(ok, params(0, 1, 1, 1, {}, 1),
                                                                  p, p, p),
               "conv2d_backward_input: stride must be >= 1");
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_forward<float>({1, 8, 8, 4, 3, 3, 1, 6},
                                                           params(1, 1, 1, 1, {}, 3), p, p, p),
               "groups=3 must divide the 4 input and 6 output channels");
  const i64 bad[] = {1, 4};
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_backward_weight<float>(ok, {}, p, p, p, bad, 2),
               "channel 4 is out of range for 4 output channels");
  const i64 twice[] = {1, 1};
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_backward_weight<float>(ok, {}, p, p, p, twice, 2),
               "channel 1 is listed twice");
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_backward_bias<float>(-1, 3, p, p),
               "conv2d_backward_bias: sizes must be non-negative");
  CHECK_THROWS(ShapeError, pyfrozen::conv2d_padding(0, 4, 3, 3, 1, 1, 1, 1,
                                                    pyfrozen::Conv2dPaddingMode::same),
               "conv2d_padding: sizes, strides and dilations must be positive");
}

void check_padding_and_counters() {
  const auto pd = pyfrozen::conv2d_padding(96, 96, 3, 3, 2, 2, 1, 1,
                                           pyfrozen::Conv2dPaddingMode::same);
  CHECK(pd.top == 0 && pd.bottom == 1 && pd.left == 0 && pd.right == 1);
  const auto pv = pyfrozen::conv2d_padding(96, 96, 3, 3, 2, 2, 1, 1,
                                           pyfrozen::Conv2dPaddingMode::valid);
  CHECK(pv.top == 0 && pv.bottom == 0 && pv.left == 0 && pv.right == 0);

  const Conv2dShape s{2, 6, 6, 4, 3, 3, 4, 8};
  const auto out = pyfrozen::conv2d_output_size(s, {});
  CHECK(out.h == 4 && out.w == 4);
  std::vector<double> x(2 * 6 * 6 * 4, 1.0), w(3 * 3 * 4 * 8, 1.0), y(2 * 4 * 4 * 8);
  std::vector<double> dw(w.size());
  pyfrozen::reset_kernel_counts();
  pyfrozen::conv2d_forward<double>(s, {}, x.data(), w.data(), y.data());
  const i64 channels[] = {3};
  pyfrozen::conv2d_backward_weight<double>(s, {}, x.data(), y.data(), dw.data(), channels, 1);
  const auto counts = pyfrozen::kernel_counts();
  CHECK(counts.size() == 2);
  const i64 macs = 2 * 4 * 4 * 8 * 3 * 3 * 4;
  for (const auto& c : counts) {
    if (c.pass == pyfrozen::Pass::forward) CHECK(c.kernel == "conv2d" && c.calls == 1 && c.work == macs);
    if (c.pass == pyfrozen::Pass::backward_weight) CHECK(c.calls == 1 && c.work == macs / 8);
  }
  CHECK(y[0] == 36.0);
}

}  // namespace

int main() {
  pyfrozen_test::run_section("errors", check_errors);
  pyfrozen_test::run_section("padding and counters", check_padding_and_counters);
  const std::vector<Case> all = cases();
  for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
    pyfrozen::set_active_isa(isa);
    for (int threads : {1, 2}) {
      pyfrozen::set_num_threads(threads);
      std::uint64_t seed = 1;
      for (const Case& c : all) {
        pyfrozen_test::run_section(c.name, [&] { run_case<float>(c, seed++); });
        pyfrozen_test::run_section(c.name, [&] { run_case<double>(c, seed++); });
      }
    }
  }
  return pyfrozen_test::summary();
}
