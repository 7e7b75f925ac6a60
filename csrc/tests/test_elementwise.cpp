// bias_act_forward/backward, softmax and log-softmax against naive loops in double,
// float and double, every ISA path, 1 and 2 threads, odd sizes, in place, errors.
// Public API only: this file is also built against the installed package.
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
using pyfrozen::Activation;

using pyfrozen_test::Rng;

template <typename T>
std::vector<T> random(Rng& rng, i64 n, double scale) {
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(scale * rng.next());
  return v;
}

template <typename T>
double tol() {
  return sizeof(T) == 4 ? 2e-6 : 1e-13;
}

double act_ref(double v, Activation a) {
  switch (a) {
    case Activation::relu: return v > 0 ? v : 0;
    case Activation::relu6: return v < 0 ? 0 : (v > 6 ? 6 : v);
    case Activation::sigmoid: return 1 / (1 + std::exp(-v));
    case Activation::tanh: return std::tanh(v);
    case Activation::none: break;
  }
  return v;
}

double dact_ref(double y, Activation a) {
  switch (a) {
    case Activation::relu: return y > 0 ? 1 : 0;
    case Activation::relu6: return y > 0 && y < 6 ? 1 : 0;
    case Activation::sigmoid: return y * (1 - y);
    case Activation::tanh: return 1 - y * y;
    case Activation::none: break;
  }
  return 1;
}

std::string where(const char* what, i64 rows, i64 c, Activation a) {
  return std::string(what) + " isa=" + pyfrozen::isa_name(pyfrozen::active_isa()) +
         " threads=" + std::to_string(pyfrozen::get_num_threads()) + " rows=" +
         std::to_string(rows) + " c=" + std::to_string(c) + " act=" + pyfrozen::activation_name(a);
}

template <typename T>
void bias_act_case(Rng& rng, i64 rows, i64 c, Activation a) {
  const std::vector<T> x = random<T>(rng, rows * c, 8), b = random<T>(rng, c, 2);
  std::vector<T> y(x.size()), inplace = x;
  pyfrozen::bias_act_forward<T>(rows, c, x.data(), b.data(), a, y.data());
  pyfrozen::bias_act_forward<T>(rows, c, inplace.data(), b.data(), a, inplace.data());
  double err = 0;
  for (i64 r = 0; r < rows; ++r)
    for (i64 j = 0; j < c; ++j) {
      const size_t at = static_cast<size_t>(r * c + j);
      const double want = act_ref(static_cast<double>(static_cast<T>(x[at] + b[j])), a);
      err = std::fmax(err, std::fabs(y[at] - want) / (1 + std::fabs(want)));
    }
  CHECK_MSG(err <= tol<T>(), where("forward", rows, c, a) + " err " + std::to_string(err));
  CHECK_MSG(inplace == y, where("in place", rows, c, a));

  const std::vector<T> dy = random<T>(rng, rows * c, 1);
  std::vector<T> dx(x.size()), db(static_cast<size_t>(c), T(-7)), db_only(db.size());
  pyfrozen::bias_act_backward<T>(rows, c, dy.data(), y.data(), a, dx.data(), db.data());
  pyfrozen::bias_act_backward<T>(rows, c, dy.data(), y.data(), a, nullptr, db_only.data());
  double dx_err = 0, db_err = 0;
  for (i64 j = 0; j < c; ++j) {
    double sum = 0;
    for (i64 r = 0; r < rows; ++r) {
      const size_t at = static_cast<size_t>(r * c + j);
      const double want = dy[at] * dact_ref(y[at], a);
      dx_err = std::fmax(dx_err, std::fabs(dx[at] - want));
      sum += want;
    }
    db_err = std::fmax(db_err, std::fabs(db[j] - sum) / std::sqrt(static_cast<double>(rows)));
  }
  CHECK_MSG(dx_err <= tol<T>(), where("dx", rows, c, a) + " err " + std::to_string(dx_err));
  CHECK_MSG(db_err <= 10 * tol<T>(), where("dbias", rows, c, a) + " err " + std::to_string(db_err));
  CHECK_MSG(db_only == db, where("dbias without dx", rows, c, a));
}

template <typename T>
void softmax_case(Rng& rng, i64 rows, i64 k) {
  const std::vector<T> x = random<T>(rng, rows * k, 5), dy = random<T>(rng, rows * k, 1);
  std::vector<T> y(x.size()), ly(x.size()), dx(x.size()), ldx(x.size());
  pyfrozen::softmax_forward<T>(rows, k, x.data(), y.data());
  pyfrozen::log_softmax_forward<T>(rows, k, x.data(), ly.data());
  pyfrozen::softmax_backward<T>(rows, k, dy.data(), y.data(), dx.data());
  pyfrozen::log_softmax_backward<T>(rows, k, dy.data(), ly.data(), ldx.data());
  double err = 0;
  for (i64 r = 0; r < rows; ++r) {
    const auto row = [&](const std::vector<T>& v, i64 j) { return double(v[size_t(r * k + j)]); };
    double m = row(x, 0), sum = 0, dot = 0, dsum = 0;
    for (i64 j = 1; j < k; ++j) m = std::fmax(m, row(x, j));
    for (i64 j = 0; j < k; ++j) sum += std::exp(row(x, j) - m);
    for (i64 j = 0; j < k; ++j) {
      const double p = std::exp(row(x, j) - m) / sum;
      dot += row(dy, j) * p;
      dsum += row(dy, j);
    }
    for (i64 j = 0; j < k; ++j) {
      const double p = std::exp(row(x, j) - m) / sum;
      err = std::fmax(err, std::fabs(row(y, j) - p));
      err = std::fmax(err, std::fabs(row(ly, j) - (row(x, j) - m - std::log(sum))) / 10);
      err = std::fmax(err, std::fabs(row(dx, j) - p * (row(dy, j) - dot)));
      err = std::fmax(err, std::fabs(row(ldx, j) - (row(dy, j) - p * dsum)) / 10);
    }
  }
  CHECK_MSG(err <= 5 * tol<T>(), where("softmax", rows, k, Activation::none) + " err " +
                                     std::to_string(err));
}

template <typename T>
void sweep() {
  Rng rng(7);
  const i64 shapes[][2] = {{1, 1}, {3, 1}, {5, 3}, {7, 13}, {2, 64}, {700, 67}};
  for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
    pyfrozen::set_active_isa(isa);
    for (int threads : {1, 2}) {
      pyfrozen::set_num_threads(threads);
      for (const auto& s : shapes) {
        for (Activation a : {Activation::none, Activation::relu, Activation::relu6,
                             Activation::sigmoid, Activation::tanh})
          bias_act_case<T>(rng, s[0], s[1], a);
        softmax_case<T>(rng, s[0], s[1]);
      }
    }
  }
}

template <typename T>
void extremes_and_errors() {
  const T x[3] = {T(1e4), T(-1e4), T(0)};
  T y[3], ly[3];
  pyfrozen::softmax_forward<T>(1, 3, x, y);
  pyfrozen::log_softmax_forward<T>(1, 3, x, ly);
  CHECK(y[0] == T(1) && y[1] == T(0) && std::isfinite(ly[1]) && ly[1] == T(-2e4));
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::bias_act_forward<T>(-1, 3, x, nullptr, Activation::relu, y),
               "bias_act_forward: rows must be non-negative, got -1");
  CHECK_THROWS(pyfrozen::ShapeError, pyfrozen::softmax_forward<T>(1, -3, x, y),
               "softmax_forward: classes must be non-negative, got -3");
  // Nothing requested: nothing read or written, nothing counted.
  pyfrozen::reset_kernel_counts();
  pyfrozen::bias_act_backward<T>(4, 3, nullptr, nullptr, Activation::relu, nullptr, nullptr);
  CHECK(pyfrozen::kernel_counts().empty());
}

template <typename T>
void all() {
  pyfrozen_test::run_section("sweep", sweep<T>);
  pyfrozen_test::run_section("extremes_and_errors", extremes_and_errors<T>);
}

}  // namespace

int main() {
  const pyfrozen_test::RuntimeRestore restore;
  all<float>();
  all<double>();
  return pyfrozen_test::summary();
}
