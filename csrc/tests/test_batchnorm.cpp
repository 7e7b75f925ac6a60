// pyfrozen batchnorm kernels against naive double loops, in float and double, for every
// combination of optional arguments and outputs, odd sizes (one row, one channel, more
// than one channel block), on every ISA path this CPU runs, with 1 and 2 threads.
// Public API only: this file is also built against the installed package.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"
#include "rng.hpp"

namespace {

using i64 = std::int64_t;
using Vec = std::vector<double>;

using pyfrozen_test::Rng;

template <typename T>
constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();

template <typename T>
const char* type_name() {
  return sizeof(T) == 4 ? "float" : "double";
}

template <typename T>
std::vector<T> random_vec(Rng& rng, i64 n, double scale, double offset) {
  std::vector<T> v(static_cast<size_t>(n));
  for (T& e : v) e = static_cast<T>(offset + scale * rng.next());
  return v;
}

template <typename T>
Vec widen(const std::vector<T>& v) {
  return Vec(v.begin(), v.end());
}

/// "" when got matches want within tol * max(1, |want|max), else the first mismatch.
template <typename T>
std::string compare(const char* what, const std::vector<T>& got, const Vec& want, double tol) {
  double scale = 1.0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = static_cast<double>(got[i]);
    if (std::isfinite(g) && std::fabs(g - want[i]) <= tol * scale) continue;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, expected %.9g", what, i, g, want[i]);
    return buf;
  }
  return "";
}

template <typename T>
double tolerance(i64 rows) {
  return (sizeof(T) == 4 ? 2e-5 : 1e-12) * std::sqrt(static_cast<double>(std::max<i64>(rows, 1)));
}

// ---- references --------------------------------------------------------------------

struct Stats {
  Vec mean, var;
};

Stats batch_stats(i64 rows, i64 C, const Vec& x) {
  Stats s{Vec(static_cast<size_t>(C), 0.0), Vec(static_cast<size_t>(C), 0.0)};
  for (i64 r = 0; r < rows; ++r)
    for (i64 c = 0; c < C; ++c) s.mean[c] += x[r * C + c] / static_cast<double>(rows);
  for (i64 r = 0; r < rows; ++r)
    for (i64 c = 0; c < C; ++c) {
      const double d = x[r * C + c] - s.mean[c];
      s.var[c] += d * d / static_cast<double>(rows);
    }
  return s;
}

double at_or(const Vec& v, i64 c, double dflt) { return v.empty() ? dflt : v[c]; }

/// y = (x - mean) / sqrt(var + eps) * gamma + beta (gamma/beta empty: 1/0).
Vec normalize(i64 rows, i64 C, const Vec& x, const Vec& mean, const Vec& var, double eps,
              const Vec& gamma, const Vec& beta) {
  Vec y(x.size());
  for (i64 r = 0; r < rows; ++r)
    for (i64 c = 0; c < C; ++c)
      y[r * C + c] = (x[r * C + c] - mean[c]) / std::sqrt(var[c] + eps) * at_or(gamma, c, 1) +
                     at_or(beta, c, 0);
  return y;
}

struct Grads {
  Vec dx, dgamma, dbeta;
};

/// Training backward (batch statistics mean / inv_std), or, with `frozen`, the
/// inference backward (no batch reduction in dx).
Grads reference_grads(i64 rows, i64 C, const Vec& dy, const Vec& x, const Vec& gamma,
                      const Vec& mean, const Vec& inv_std, bool frozen) {
  Grads g{Vec(dy.size()), Vec(static_cast<size_t>(C), 0.0), Vec(static_cast<size_t>(C), 0.0)};
  for (i64 r = 0; r < rows; ++r)
    for (i64 c = 0; c < C; ++c) {
      g.dbeta[c] += dy[r * C + c];
      g.dgamma[c] += dy[r * C + c] * (x[r * C + c] - mean[c]) * inv_std[c];
    }
  const double n = static_cast<double>(rows);
  for (i64 r = 0; r < rows; ++r)
    for (i64 c = 0; c < C; ++c) {
      const double k = at_or(gamma, c, 1) * inv_std[c];
      const double xhat = (x[r * C + c] - mean[c]) * inv_std[c];
      g.dx[r * C + c] = frozen ? k * dy[r * C + c]
                               : k * (dy[r * C + c] - g.dbeta[c] / n - xhat * g.dgamma[c] / n);
    }
  return g;
}

// ---- one problem -------------------------------------------------------------------

template <typename T>
struct Problem {
  i64 rows, C;
  std::vector<T> x, dy, gamma, beta, rm, rv;
  Problem(i64 r, i64 c, std::uint64_t seed) : rows(r), C(c) {
    Rng rng(seed);
    x = random_vec<T>(rng, r * c, 2.0, 0.5);
    dy = random_vec<T>(rng, r * c, 1.0, 0.0);
    gamma = random_vec<T>(rng, c, 0.5, 1.0);
    beta = random_vec<T>(rng, c, 1.0, 0.0);
    rm = random_vec<T>(rng, c, 1.0, 0.0);
    rv = random_vec<T>(rng, c, 0.5, 1.0);
  }
  std::string describe(const char* op, bool affine) const {
    return std::string(op) + "<" + type_name<T>() + "> isa=" +
           pyfrozen::isa_name(pyfrozen::active_isa()) +
           " threads=" + std::to_string(pyfrozen::get_num_threads()) +
           " rows=" + std::to_string(rows) + " C=" + std::to_string(C) +
           (affine ? " affine" : " no gamma/beta");
  }
};

template <typename T>
void check_forward(const Problem<T>& p, bool affine) {
  const i64 n = p.rows * p.C;
  const T* gamma = affine ? p.gamma.data() : nullptr;
  const T* beta = affine ? p.beta.data() : nullptr;
  const Vec g = affine ? widen(p.gamma) : Vec(), b = affine ? widen(p.beta) : Vec();
  const double eps = 1e-3, mom = 0.9;
  std::vector<T> y(static_cast<size_t>(n), kNaN<T>), mean(p.C, kNaN<T>), inv(p.C, kNaN<T>);
  std::vector<T> rm = p.rm, rv = p.rv;
  pyfrozen::batchnorm_forward_training<T>(p.rows, p.C, p.x.data(), gamma, beta, T(eps), y.data(),
                                          mean.data(), inv.data(), rm.data(), rv.data(), T(mom));
  const Stats s = batch_stats(p.rows, p.C, widen(p.x));
  Vec inv_want(s.var.size()), rm_want(s.var.size()), rv_want(s.var.size());
  for (size_t c = 0; c < s.var.size(); ++c) {
    inv_want[c] = 1.0 / std::sqrt(s.var[c] + eps);
    rm_want[c] = mom * p.rm[c] + (1 - mom) * s.mean[c];
    rv_want[c] = mom * p.rv[c] + (1 - mom) * s.var[c];  // Keras: the biased variance
  }
  const double tol = tolerance<T>(1);
  const std::string what = p.describe("batchnorm_forward_training", affine);
  std::string err = compare("y", y, normalize(p.rows, p.C, widen(p.x), s.mean, s.var, eps, g, b), tol);
  if (err.empty()) err = compare("save_mean", mean, s.mean, tol);
  if (err.empty()) err = compare("save_inv_std", inv, inv_want, tol);
  if (err.empty()) err = compare("running_mean", rm, rm_want, tol);
  if (err.empty()) err = compare("running_var", rv, rv_want, tol);
  CHECK_MSG(err.empty(), what + ": " + err);

  // No saved statistics, no running statistics: y is the same.
  std::vector<T> y2(static_cast<size_t>(n), kNaN<T>);
  pyfrozen::batchnorm_forward_training<T>(p.rows, p.C, p.x.data(), gamma, beta, T(eps), y2.data(),
                                          nullptr, nullptr, nullptr, nullptr, T(mom));
  CHECK_MSG(y2 == y, what + ": y changed without the optional outputs");

  pyfrozen::batchnorm_forward_inference<T>(p.rows, p.C, p.x.data(), gamma, beta, p.rm.data(),
                                           p.rv.data(), T(eps), y2.data());
  err = compare("y", y2, normalize(p.rows, p.C, widen(p.x), widen(p.rm), widen(p.rv), eps, g, b),
                tol);
  CHECK_MSG(err.empty(), p.describe("batchnorm_forward_inference", affine) + ": " + err);
}

/// One backward call with the requested outputs; "" when they match `want` and the
/// others are untouched.
template <typename T>
std::string run_backward(const Problem<T>& p, bool affine, bool frozen,
                         const std::vector<T>& mean_t, const std::vector<T>& inv_t,
                         const Grads& want, bool want_dx, bool want_dg, bool want_db) {
  const double eps = 1e-3;
  const T* gamma = affine ? p.gamma.data() : nullptr;
  const T sentinel = T(-7);  // outputs not requested must stay untouched
  std::vector<T> dx(p.x.size(), sentinel), dg(p.C, sentinel), db(p.C, sentinel);
  // Inputs only the unrequested outputs need may be null.
  const T* x = (want_dg || (want_dx && !frozen)) ? p.x.data() : nullptr;
  if (frozen)
    pyfrozen::batchnorm_backward_inference<T>(
        p.rows, p.C, p.dy.data(), x, gamma, want_dg ? p.rm.data() : nullptr,
        (want_dx || want_dg) ? p.rv.data() : nullptr, T(eps), want_dx ? dx.data() : nullptr,
        want_dg ? dg.data() : nullptr, want_db ? db.data() : nullptr);
  else
    pyfrozen::batchnorm_backward_training<T>(
        p.rows, p.C, p.dy.data(), x, gamma, x ? mean_t.data() : nullptr,
        x ? inv_t.data() : nullptr, want_dx ? dx.data() : nullptr, want_dg ? dg.data() : nullptr,
        want_db ? db.data() : nullptr);
  auto untouched = [&](const std::vector<T>& v) {
    return std::all_of(v.begin(), v.end(), [&](T e) { return e == sentinel; });
  };
  std::string err;
  if (want_dx) err = compare("dx", dx, want.dx, tolerance<T>(1));
  else if (!untouched(dx)) err = "dx written though not requested";
  if (err.empty() && want_dg) err = compare("dgamma", dg, want.dgamma, tolerance<T>(p.rows));
  else if (err.empty() && !untouched(dg)) err = "dgamma written though not requested";
  if (err.empty() && want_db) err = compare("dbeta", db, want.dbeta, tolerance<T>(p.rows));
  else if (err.empty() && !untouched(db)) err = "dbeta written though not requested";
  return err;
}

/// Every combination of requested outputs (mask bits: dx, dgamma, dbeta).
template <typename T>
void check_backward(const Problem<T>& p, bool affine, bool frozen) {
  const double eps = 1e-3;
  const T* gamma = affine ? p.gamma.data() : nullptr;
  const Vec g = affine ? widen(p.gamma) : Vec();
  Vec mean, inv;
  std::vector<T> mean_t(p.C), inv_t(p.C);
  if (frozen) {
    mean = widen(p.rm);
    for (T v : p.rv) inv.push_back(1.0 / std::sqrt(static_cast<double>(v) + eps));
  } else {
    pyfrozen::batchnorm_forward_training<T>(p.rows, p.C, p.x.data(), gamma, nullptr, T(eps),
                                            std::vector<T>(p.x.size()).data(), mean_t.data(),
                                            inv_t.data(), nullptr, nullptr, T(0.99));
    mean = widen(mean_t);
    inv = widen(inv_t);
  }
  const Grads want = reference_grads(p.rows, p.C, widen(p.dy), widen(p.x), g, mean, inv, frozen);
  for (int mask = 0; mask < 8; ++mask) {
    const bool want_dx = mask & 1, want_dg = mask & 2, want_db = mask & 4;
    const std::string err = run_backward(p, affine, frozen, mean_t, inv_t, want, want_dx,
                                         want_dg, want_db);
    const char* op = frozen ? "batchnorm_backward_inference" : "batchnorm_backward_training";
    CHECK_MSG(err.empty(), p.describe(op, affine) + " mask=" + std::to_string(mask) + ": " + err);
  }
}

// ---- sweeps ------------------------------------------------------------------------

struct Size {
  i64 rows, C;
};
// One row, one channel, odd channel counts, rows straddling the 64-row blocks, more than
// one 256-channel block, and enough elements (> 32768) for the second thread.
const Size kSizes[] = {{1, 1}, {1, 3}, {7, 13}, {65, 3}, {3, 300}, {200, 257}, {3000, 13}};

template <typename T>
void sweep() {
  std::uint64_t seed = 7 * sizeof(T);
  for (const Size& s : kSizes) {
    const Problem<T> p(s.rows, s.C, ++seed);
    for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
      pyfrozen::set_active_isa(isa);
      for (int threads : {1, 2}) {
        pyfrozen::set_num_threads(threads);
        for (bool affine : {true, false}) {
          check_forward(p, affine);
          for (bool frozen : {false, true}) check_backward(p, affine, frozen);
        }
      }
    }
  }
}

// mean 1e4, std ~0.6 in float: E[x^2] - E[x]^2 would leave no digit of the variance.
void large_mean_is_stable() {
  Rng rng(99);
  const i64 rows = 5000, C = 5;
  std::vector<float> x = random_vec<float>(rng, rows * C, 1.0, 1e4);
  std::vector<float> y(x.size()), mean(C), inv(C);
  pyfrozen::batchnorm_forward_training<float>(rows, C, x.data(), nullptr, nullptr, 1e-3f,
                                              y.data(), mean.data(), inv.data(), nullptr,
                                              nullptr, 0.99f);
  const Stats s = batch_stats(rows, C, widen(x));
  Vec inv_want;
  for (double v : s.var) inv_want.push_back(1.0 / std::sqrt(v + 1e-3));
  const Vec y_want = normalize(rows, C, widen(x), s.mean, s.var, 1e-3, Vec(), Vec());
  std::string err = compare("inv_std", inv, inv_want, 1e-5);
  if (err.empty()) err = compare("y", y, y_want, 1e-5);
  CHECK_MSG(err.empty(), "mean 1e4: " + err);
}

// An activation fused into the training forward / backward gives the bits of the
// batchnorm kernel followed by bias_act_forward, and of bias_act_backward followed by
// the batchnorm backward, on every ISA path, with 1 and 2 threads.
template <typename T>
void fused_activation_matches_bias_act() {
  using pyfrozen::Activation;
  const i64 rows = 3000, C = 13;
  Rng rng(5);
  const std::vector<T> x = random_vec<T>(rng, rows * C, 6.0, 1.0);
  const std::vector<T> dy = random_vec<T>(rng, rows * C, 2.0, 0.0);
  const std::vector<T> gamma = random_vec<T>(rng, C, 2.0, 2.0);
  const std::vector<T> beta = random_vec<T>(rng, C, 2.0, 1.0);
  for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
    pyfrozen::set_active_isa(isa);
    for (int threads : {1, 2}) {
      pyfrozen::set_num_threads(threads);
      for (Activation act : {Activation::relu, Activation::relu6, Activation::sigmoid,
                             Activation::tanh}) {
        std::vector<T> y1(x.size()), y2(x.size()), m(C), s(C);
        pyfrozen::batchnorm_forward_training<T>(rows, C, x.data(), gamma.data(), beta.data(),
                                                T(1e-3), y1.data(), m.data(), s.data(),
                                                nullptr, nullptr, T(0.99), act);
        pyfrozen::batchnorm_forward_training<T>(rows, C, x.data(), gamma.data(), beta.data(),
                                                T(1e-3), y2.data(), nullptr, nullptr, nullptr,
                                                nullptr, T(0.99));
        pyfrozen::bias_act_forward<T>(rows, C, y2.data(), nullptr, act, y2.data());
        const std::string what = std::string(type_name<T>()) + " " +
                                 pyfrozen::activation_name(act) + " threads " +
                                 std::to_string(threads);
        CHECK_MSG(y1 == y2, "forward " + what);
        std::vector<T> dx1(x.size()), dg1(C), db1(C), g(x.size());
        std::vector<T> dx2(x.size()), dg2(C), db2(C);
        pyfrozen::batchnorm_backward_training<T>(rows, C, dy.data(), x.data(), gamma.data(),
                                                 m.data(), s.data(), dx1.data(), dg1.data(),
                                                 db1.data(), y1.data(), act);
        pyfrozen::bias_act_backward<T>(rows, C, dy.data(), y1.data(), act, g.data(), nullptr);
        pyfrozen::batchnorm_backward_training<T>(rows, C, g.data(), x.data(), gamma.data(),
                                                 m.data(), s.data(), dx2.data(), dg2.data(),
                                                 db2.data());
        CHECK_MSG(dx1 == dx2 && dg1 == dg2 && db1 == db2, "backward " + what);
        // The forward's affine constants in place of y: act'(.) recomputed from x.
        std::vector<T> affine(3 * C), y3(x.size());
        pyfrozen::batchnorm_forward_training<T>(rows, C, x.data(), gamma.data(), beta.data(),
                                                T(1e-3), y3.data(), nullptr, nullptr, nullptr,
                                                nullptr, T(0.99), act, affine.data());
        std::vector<T> dx3(x.size()), dg3(C), db3(C);
        pyfrozen::batchnorm_backward_training<T>(rows, C, dy.data(), x.data(), gamma.data(),
                                                 m.data(), s.data(), dx3.data(), dg3.data(),
                                                 db3.data(), nullptr, act, affine.data());
        CHECK_MSG(y3 == y1 && dx3 == dx1 && dg3 == dg1 && db3 == db1, "from affine " + what);
      }
    }
  }
  std::vector<T> o(x.size());
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::batchnorm_backward_training<T>(
                   rows, C, dy.data(), x.data(), nullptr, gamma.data(), gamma.data(), o.data(),
                   nullptr, nullptr, nullptr, Activation::relu),
               "y");
  const std::vector<T> affine(3 * C, T(1));
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::batchnorm_backward_training<T>(
                   rows, C, dy.data(), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                   o.data(), nullptr, Activation::relu, affine.data()),
               "x");
}

template <typename T>
void bad_arguments_throw() {
  using pyfrozen::ShapeError;
  std::vector<T> x(12, T(1)), y(12), c(4, T(1)), c2(4, T(1));
  const T* n = nullptr;
  T* o = nullptr;
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_forward_training<T>(-1, 4, x.data(), n, n, T(1e-3),
               y.data(), o, o, o, o, T(0.99)), "rows=-1");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_forward_training<T>(0, 4, x.data(), n, n, T(1e-3),
               y.data(), o, o, o, o, T(0.99)), "at least one row");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_forward_training<T>(3, 4, x.data(), n, n, T(-1),
               y.data(), o, o, o, o, T(0.99)), "epsilon must be finite and >= 0");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_forward_training<T>(3, 4, x.data(), n, n, T(1e-3),
               y.data(), o, o, o, o, T(1.5)), "momentum must be in [0, 1]");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_forward_training<T>(3, 4, x.data(), n, n, T(1e-3),
               y.data(), o, o, c.data(), o, T(0.99)), "running_mean and running_var go together");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_forward_training<T>(3, 4, n, n, n, T(1e-3),
               y.data(), o, o, o, o, T(0.99)), "batchnorm_forward_training: x is null");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_forward_inference<T>(3, 4, x.data(), n, n, c.data(),
               n, T(1e-3), y.data()), "running_var is null");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_backward_training<T>(3, 4, x.data(), n, n, c.data(),
               c.data(), o, c2.data(), o), "x is null");
  CHECK_THROWS(ShapeError, pyfrozen::batchnorm_backward_inference<T>(3, 4, x.data(), x.data(), n,
               n, c.data(), T(1e-3), o, c2.data(), o), "running_mean is null");
  CHECK_THROWS(std::invalid_argument, pyfrozen::batchnorm_backward_inference<T>(3, -4, n, n, n,
               n, n, T(1e-3), o, o, o), "channels=-4");
  // A refused call writes nothing.
  CHECK(std::all_of(c2.begin(), c2.end(), [](T v) { return v == T(1); }));
  // Nothing to do: every pointer may be null (no channels; no outputs requested).
  pyfrozen::batchnorm_forward_training<T>(5, 0, n, n, n, T(1e-3), o, o, o, o, o, T(0.99));
  pyfrozen::batchnorm_forward_inference<T>(0, 4, n, n, n, n, n, T(1e-3), o);
  pyfrozen::batchnorm_backward_training<T>(3, 4, n, n, n, n, n, o, o, o);
  // Sums over no rows are zero.
  pyfrozen::batchnorm_backward_inference<T>(0, 4, n, n, n, n, n, T(1e-3), o, c.data(), c2.data());
  CHECK(std::all_of(c.begin(), c.end(), [](T v) { return v == T(0); }) &&
        std::all_of(c2.begin(), c2.end(), [](T v) { return v == T(0); }));
}

void counters_show_requested_passes_only() {
  pyfrozen::reset_kernel_counts();
  std::vector<float> x(6 * 4, 1.0f), g(4, 1.0f), dg(4);
  pyfrozen::batchnorm_backward_inference<float>(6, 4, x.data(), x.data(), nullptr, g.data(),
                                                g.data(), 1e-3f, nullptr, dg.data(), nullptr);
  const std::vector<pyfrozen::KernelCount> counts = pyfrozen::kernel_counts();
  bool only_weight = !counts.empty();
  for (const pyfrozen::KernelCount& k : counts)
    if (k.kernel == "batchnorm")
      only_weight = only_weight && k.pass == pyfrozen::Pass::backward_weight && k.calls == 1 &&
                    k.work == 24;
  CHECK_MSG(only_weight, "dgamma alone must count one backward_weight call of 24 elements");
}

// The header promises concurrent callers are safe (scratch buffers are per thread).
void concurrent_callers() {
  pyfrozen::set_num_threads(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      const Problem<float> p(1500 + 300 * i, 20 + i, 500 + i);
      for (int rep = 0; rep < 2; ++rep) check_backward(p, true, false);
    });
  for (std::thread& t : threads) t.join();
  CHECK(true);  // the checks ran inside the threads
}

}  // namespace

int main() {
  using namespace pyfrozen_test;
  const pyfrozen_test::RuntimeRestore restore;
  run_section("sweep<float>", sweep<float>);
  run_section("sweep<double>", sweep<double>);
  run_section("large_mean_is_stable", large_mean_is_stable);
  run_section("fused_activation<float>", fused_activation_matches_bias_act<float>);
  run_section("fused_activation<double>", fused_activation_matches_bias_act<double>);
  run_section("bad_arguments<float>", bad_arguments_throw<float>);
  run_section("bad_arguments<double>", bad_arguments_throw<double>);
  run_section("counters", counters_show_requested_passes_only);
  run_section("concurrent_callers", concurrent_callers);
  return summary();
}
