// softmax_cross_entropy (labels and probabilities), binary_cross_entropy and mse against
// naive loops in double, float and double, every ISA path, 1 and 2 threads, errors.
// Public API only: this file is also built against the installed package.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"
#include "rng.hpp"

namespace {

using i64 = std::int64_t;

using pyfrozen_test::Rng;

template <typename T>
std::vector<T> random(Rng& rng, i64 n, double lo, double hi) {
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(lo + (hi - lo) * rng.unit());
  return v;
}

template <typename T>
double tol() {
  return sizeof(T) == 4 ? 2e-6 : 1e-12;
}

std::string where(const char* what, i64 n, i64 k) {
  return std::string(what) + " isa=" + pyfrozen::isa_name(pyfrozen::active_isa()) +
         " threads=" + std::to_string(pyfrozen::get_num_threads()) + " n=" + std::to_string(n) +
         " k=" + std::to_string(k);
}

template <typename T>
void cross_entropy_case(Rng& rng, i64 n, i64 k) {
  const std::vector<T> x = random<T>(rng, n * k, -4, 4), t = random<T>(rng, n * k, 0, 1);
  std::vector<i64> labels(static_cast<size_t>(n));
  for (i64& l : labels) l = static_cast<i64>(rng.unit() * static_cast<double>(k));
  std::vector<T> g(x.size()), gp(x.size());
  const double loss = pyfrozen::softmax_cross_entropy<T>(n, k, x.data(), labels.data(), g.data());
  const double lossp = pyfrozen::softmax_cross_entropy_probs<T>(n, k, x.data(), t.data(),
                                                                gp.data());
  double want = 0, wantp = 0, gerr = 0;
  for (i64 r = 0; r < n; ++r) {
    const auto at = [&](i64 j) { return static_cast<size_t>(r * k + j); };
    double m = x[at(0)], sum = 0, tsum = 0;
    for (i64 j = 1; j < k; ++j) m = std::fmax(m, double(x[at(j)]));
    for (i64 j = 0; j < k; ++j) sum += std::exp(x[at(j)] - m), tsum += t[at(j)];
    const double lse = m + std::log(sum);
    want += lse - x[at(labels[size_t(r)])];
    for (i64 j = 0; j < k; ++j) {
      const double p = std::exp(x[at(j)] - lse);
      wantp -= t[at(j)] * (x[at(j)] - lse);
      gerr = std::fmax(gerr, std::fabs(g[at(j)] - (p - (j == labels[size_t(r)])) / double(n)));
      gerr = std::fmax(gerr, std::fabs(gp[at(j)] - (p * tsum - t[at(j)]) / double(n)));
    }
  }
  CHECK_MSG(std::fabs(loss - want / double(n)) <= tol<T>() * 10, where("ce labels", n, k));
  CHECK_MSG(std::fabs(lossp - wantp / double(n)) <= tol<T>() * 10, where("ce probs", n, k));
  CHECK_MSG(gerr * double(n) <= 5 * tol<T>(), where("ce grad", n, k) + " " + std::to_string(gerr));
  // Without grad: the same loss bits.
  CHECK(pyfrozen::softmax_cross_entropy<T>(n, k, x.data(), labels.data(), nullptr) == loss);
}

template <typename T>
void elementwise_case(Rng& rng, i64 count) {
  const std::vector<T> p = random<T>(rng, count, 0, 1), t = random<T>(rng, count, 0, 1);
  const std::vector<T> z = random<T>(rng, count, -6, 6);
  std::vector<T> g(p.size()), gl(p.size()), gm(p.size());
  const double bce = pyfrozen::binary_cross_entropy<T>(count, p.data(), t.data(), false, g.data());
  const double bcl = pyfrozen::binary_cross_entropy<T>(count, z.data(), t.data(), true, gl.data());
  const double ms = pyfrozen::mse<T>(count, p.data(), t.data(), gm.data());
  const double lo = static_cast<double>(static_cast<T>(1e-7));
  const double hi = static_cast<double>(T(1) - static_cast<T>(1e-7));
  double wb = 0, wl = 0, wm = 0, gerr = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double q = std::fmin(std::fmax(double(p[i]), lo), hi), y = t[i], x = z[i];
    wb -= y * std::log(q) + (1 - y) * std::log(1 - q);
    wl += std::fmax(x, 0) - x * y + std::log1p(std::exp(-std::fabs(x)));
    wm += (double(p[i]) - y) * (double(p[i]) - y);
    gerr = std::fmax(gerr, std::fabs(g[i] - (q - y) / (q * (1 - q)) / double(count)) * q * (1 - q));
    gerr = std::fmax(gerr, std::fabs(gl[i] - (1 / (1 + std::exp(-x)) - y) / double(count)));
    gerr = std::fmax(gerr, std::fabs(gm[i] - 2 * (double(p[i]) - y) / double(count)));
  }
  const double c = static_cast<double>(count);
  CHECK_MSG(std::fabs(bce - wb / c) <= 1e-9 * (1 + wb / c), where("bce", count, 1));
  CHECK_MSG(std::fabs(bcl - wl / c) <= 1e-9 * (1 + wl / c), where("bce logits", count, 1));
  CHECK_MSG(std::fabs(ms - wm / c) <= 1e-12, where("mse", count, 1));
  CHECK_MSG(gerr * c <= 5 * tol<T>(), where("grads", count, 1) + " " + std::to_string(gerr * c));
}

template <typename T>
void sweep() {
  Rng rng(11);
  for (pyfrozen::Isa isa : pyfrozen::supported_isas()) {
    pyfrozen::set_active_isa(isa);
    for (int threads : {1, 2}) {
      pyfrozen::set_num_threads(threads);
      for (auto [n, k] : {std::pair<i64, i64>{1, 1}, {4, 1}, {1, 5}, {7, 3}, {2000, 13}})
        cross_entropy_case<T>(rng, n, k);
      for (i64 count : {1, 7, 100, 30001}) elementwise_case<T>(rng, count);
    }
  }
}

template <typename T>
void extremes_and_errors() {
  const T x[4] = {T(1e4), T(-1e4), T(-1e4), T(1e4)};
  const i64 labels[2] = {1, 0};
  T g[4];
  const double loss = pyfrozen::softmax_cross_entropy<T>(2, 2, x, labels, g);
  CHECK(std::isfinite(loss) && std::fabs(loss - 2e4) < 1e-2);
  CHECK(std::isfinite(g[0]) && std::isfinite(g[3]));
  const i64 bad[2] = {0, 2};
  CHECK_THROWS(pyfrozen::ShapeError, pyfrozen::softmax_cross_entropy<T>(2, 2, x, bad, g),
               "label 2 at row 1 is out of range for 2 classes (logits (2, 2))");
  CHECK_THROWS(pyfrozen::ShapeError, pyfrozen::mse<T>(-1, x, x, nullptr),
               "mse: count must be non-negative, got -1");
  CHECK(std::isnan(pyfrozen::mse<T>(0, x, x, nullptr)));
  pyfrozen::reset_kernel_counts();
  pyfrozen::binary_cross_entropy<T>(4, x, x, true, nullptr);
  const auto counts = pyfrozen::kernel_counts();
  CHECK(counts.size() == 1 && counts[0].kernel == "binary_cross_entropy" &&
        counts[0].pass == pyfrozen::Pass::forward && counts[0].work == 4);
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
