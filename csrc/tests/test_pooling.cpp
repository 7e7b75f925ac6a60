// max / avg pool2d and global average pooling against naive loops in double, float and
// double, every ISA path, 1 and 2 threads, 'same' and explicit padding, errors.
// Public API only: this file is also built against the installed package.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"
#include "rng.hpp"

namespace {

using i64 = std::int64_t;
using pyfrozen::Pool2d;

using pyfrozen_test::Rng;

struct Case {
  i64 n, h, w, c;
  Pool2d p;
};

// Naive references in double: y and dx of max and avg pooling (real cells only).
struct Reference {
  std::vector<double> ymax, yavg, dxmax, dxavg;
};

template <typename T>
Reference reference(const Case& k, i64 oh, i64 ow, const std::vector<T>& x,
                    const std::vector<T>& dy) {
  Reference r;
  const size_t out = static_cast<size_t>(k.n * oh * ow * k.c);
  r.ymax.assign(out, 0);
  r.yavg.assign(out, 0);
  r.dxmax.assign(x.size(), 0);
  r.dxavg.assign(x.size(), 0);
  const auto xi = [&](i64 b, i64 i, i64 j, i64 ch) { return ((b * k.h + i) * k.w + j) * k.c + ch; };
  for (i64 b = 0; b < k.n; ++b)
    for (i64 i = 0; i < oh; ++i)
      for (i64 j = 0; j < ow; ++j)
        for (i64 ch = 0; ch < k.c; ++ch) {
          const size_t o = static_cast<size_t>(((b * oh + i) * ow + j) * k.c + ch);
          const i64 h0 = std::max<i64>(i * k.p.stride_h - k.p.pad_top, 0);
          const i64 h1 = std::min(i * k.p.stride_h - k.p.pad_top + k.p.pool_h, k.h);
          const i64 w0 = std::max<i64>(j * k.p.stride_w - k.p.pad_left, 0);
          const i64 w1 = std::min(j * k.p.stride_w - k.p.pad_left + k.p.pool_w, k.w);
          i64 arg = xi(b, h0, w0, ch);
          double sum = 0;
          for (i64 a = h0; a < h1; ++a)
            for (i64 e = w0; e < w1; ++e) {
              sum += x[size_t(xi(b, a, e, ch))];
              if (x[size_t(xi(b, a, e, ch))] > x[size_t(arg)]) arg = xi(b, a, e, ch);
            }
          const double cells = double((h1 - h0) * (w1 - w0));
          r.ymax[o] = x[size_t(arg)];
          r.yavg[o] = sum / cells;
          r.dxmax[size_t(arg)] += dy[o];
          for (i64 a = h0; a < h1; ++a)
            for (i64 e = w0; e < w1; ++e) r.dxavg[size_t(xi(b, a, e, ch))] += dy[o] / cells;
        }
  return r;
}

template <typename T>
double max_err(const std::vector<T>& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) e = std::fmax(e, std::fabs(got[i] - want[i]));
  return e;
}

std::string where(const char* what, const Case& k) {
  return std::string(what) + " isa=" + pyfrozen::isa_name(pyfrozen::active_isa()) +
         " threads=" + std::to_string(pyfrozen::get_num_threads()) + " x=(" +
         std::to_string(k.n) + "," + std::to_string(k.h) + "," + std::to_string(k.w) + "," +
         std::to_string(k.c) + ") pool=" + std::to_string(k.p.pool_h) + "x" +
         std::to_string(k.p.pool_w) + " stride=" + std::to_string(k.p.stride_h);
}

template <typename T>
void pool_case(Rng& rng, const Case& k) {
  const pyfrozen::PoolOutput o = pyfrozen::pool2d_output("test", k.h, k.w, k.p);
  std::vector<T> x(static_cast<size_t>(k.n * k.h * k.w * k.c));
  std::vector<T> dy(static_cast<size_t>(k.n * o.h * o.w * k.c));
  for (T& v : x) v = static_cast<T>(rng.next());
  for (T& v : dy) v = static_cast<T>(rng.next());
  const Reference r = reference(k, o.h, o.w, x, dy);
  std::vector<T> y(dy.size()), ya(dy.size()), dx(x.size(), T(99)), dxa(x.size(), T(99));
  pyfrozen::max_pool2d_forward<T>(k.n, k.h, k.w, k.c, k.p, x.data(), y.data());
  pyfrozen::avg_pool2d_forward<T>(k.n, k.h, k.w, k.c, k.p, x.data(), ya.data());
  pyfrozen::max_pool2d_backward<T>(k.n, k.h, k.w, k.c, k.p, x.data(), dy.data(), dx.data());
  pyfrozen::avg_pool2d_backward<T>(k.n, k.h, k.w, k.c, k.p, dy.data(), dxa.data());
  const double t = sizeof(T) == 4 ? 1e-5 : 1e-13;
  CHECK_MSG(max_err(y, r.ymax) == 0, where("max forward", k));
  CHECK_MSG(max_err(ya, r.yavg) <= t, where("avg forward", k));
  CHECK_MSG(max_err(dx, r.dxmax) <= t, where("max backward", k));
  CHECK_MSG(max_err(dxa, r.dxavg) <= t, where("avg backward", k));

  std::vector<T> g(static_cast<size_t>(k.n * k.c)), dg(x.size());
  pyfrozen::global_avg_pool_forward<T>(k.n, k.h, k.w, k.c, x.data(), g.data());
  pyfrozen::global_avg_pool_backward<T>(k.n, k.h, k.w, k.c, g.data(), dg.data());
  double err = 0;
  for (i64 b = 0; b < k.n; ++b)
    for (i64 ch = 0; ch < k.c; ++ch) {
      double sum = 0;
      for (i64 cell = 0; cell < k.h * k.w; ++cell) sum += x[size_t((b * k.h * k.w + cell) * k.c + ch)];
      const double mean = sum / double(k.h * k.w);
      err = std::fmax(err, std::fabs(g[size_t(b * k.c + ch)] - mean));
      for (i64 cell = 0; cell < k.h * k.w; ++cell)
        err = std::fmax(err, std::fabs(dg[size_t((b * k.h * k.w + cell) * k.c + ch)] -
                                       double(g[size_t(b * k.c + ch)]) / double(k.h * k.w)));
    }
  CHECK_MSG(err <= t, where("global avg", k));
}

template <typename T>
void sweep() {
  Rng rng(3);
  const Case cases[] = {
      {1, 1, 1, 1, {1, 1, 1, 1, 0, 0, 0, 0}},
      {2, 5, 5, 3, {2, 2, 2, 2, 0, 0, 0, 0}},
      {1, 6, 7, 5, {3, 3, 1, 1, 1, 1, 1, 1}},
      {2, 8, 8, 3, {2, 2, 3, 3, 0, 0, 0, 0}},  // stride > pool
      {1, 5, 6, 2, {3, 3, 2, 1, 1, 2, 0, 1}},
      {3, 17, 15, 70, pyfrozen::pool2d_same(17, 15, 3, 3, 2, 2)},  // 2 threads, 2 blocks
  };
  for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
    pyfrozen::set_active_isa(isa);
    for (int threads : {1, 2}) {
      pyfrozen::set_num_threads(threads);
      for (const Case& k : cases) pool_case<T>(rng, k);
    }
  }
}

void geometry() {
  // TF 'same': out = ceil(in / stride), the odd padding at the bottom / right.
  const Pool2d p = pyfrozen::pool2d_same(7, 6, 3, 2, 2, 2);
  CHECK(p.pad_top == 1 && p.pad_bottom == 1 && p.pad_left == 0 && p.pad_right == 0);
  const Pool2d q = pyfrozen::pool2d_same(6, 6, 3, 3, 2, 2);
  CHECK(q.pad_top == 0 && q.pad_bottom == 1 && q.pad_left == 0 && q.pad_right == 1);
  const pyfrozen::PoolOutput o = pyfrozen::pool2d_output("t", 7, 6, p);
  CHECK(o.h == 4 && o.w == 3);
  CHECK_THROWS(pyfrozen::ShapeError, pyfrozen::pool2d_output("max_pool2d", 4, 4,
                                                             Pool2d{2, 2, 2, 2, 2, 0, 0, 0}),
               "max_pool2d: each padding must be smaller than the pool size along its axis "
               "(input 4x4, pool 2x2, strides 2x2, padding top 2 bottom 0 left 0 right 0)");
  CHECK_THROWS(pyfrozen::ShapeError, pyfrozen::pool2d_output("p", 2, 2, Pool2d{3, 3, 1, 1, 0, 0, 0, 0}),
               "the pool window is larger than the padded input");
  CHECK_THROWS(pyfrozen::ShapeError, pyfrozen::pool2d_same(4, 4, 0, 2, 1, 1),
               "pool sizes and strides must be positive");
  float x[4] = {}, y[4] = {};
  CHECK_THROWS(pyfrozen::ShapeError, pyfrozen::global_avg_pool_forward<float>(1, 0, 2, 2, x, y),
               "global_avg_pool_forward: the input must have a positive height and width");
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::max_pool2d_forward<float>(-1, 2, 2, 1, Pool2d{1, 1, 1, 1, 0, 0, 0, 0}, x, y),
               "max_pool2d_forward: batch size must be non-negative, got -1");
}

}  // namespace

int main() {
  const pyfrozen_test::RuntimeRestore restore;
  pyfrozen_test::run_section("sweep<float>", sweep<float>);
  pyfrozen_test::run_section("sweep<double>", sweep<double>);
  pyfrozen_test::run_section("geometry", geometry);
  return pyfrozen_test::summary();
}
