// Optimizer updates against naive double-precision loops of the Keras 3 formulas, in
// float and double, on every ISA path with 1 and 2 threads; masked elements and state
// bit-identical (NaN, Inf, -0.0 in the gradient); paths and thread counts bit-identical;
// argument checks. Public API only: this file is also built against the installed package.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <pyfrozen/pyfrozen.hpp>

#include "check.hpp"
#include "rng.hpp"

namespace {

using i64 = std::int64_t;

using pyfrozen_test::Rng;

enum class Kind { sgd, adam, adamw, rmsprop };

// One configuration: which optimizer and its options (every state it needs is kept).
struct Config {
  Kind kind;
  pyfrozen::SgdOptions sgd;
  pyfrozen::AdamOptions adam;
  pyfrozen::RmspropOptions rms;
  const char* name;
};

std::vector<Config> configs() {
  std::vector<Config> c;
  c.push_back({Kind::sgd, {0.1, 0.0, false, 0.0}, {}, {}, "sgd"});
  c.push_back({Kind::sgd, {0.05, 0.9, false, 0.01}, {}, {}, "sgd momentum wd"});
  c.push_back({Kind::sgd, {0.05, 0.8, true, 0.0}, {}, {}, "sgd nesterov"});
  c.push_back({Kind::adam, {}, {0.01, 0.9, 0.999, 1e-7, 0.0, 1}, {}, "adam"});
  c.push_back({Kind::adamw, {}, {0.01, 0.8, 0.99, 1e-3, 0.05, 1}, {}, "adamw"});
  c.push_back({Kind::rmsprop, {}, {}, {0.01, 0.9, 0.0, 1e-7, false, 0.0}, "rmsprop"});
  c.push_back({Kind::rmsprop, {}, {}, {0.01, 0.8, 0.6, 1e-4, true, 0.02}, "rmsprop all"});
  return c;
}

// Weights plus three state slots, in T; an unused slot is passed as nullptr.
template <typename T>
struct State {
  std::vector<T> w, s0, s1, s2;
  bool used[3] = {false, false, false};
};

// A pointer even for n == 0 (an empty vector's data() may be null, which means "absent").
template <typename T>
T* slot(State<T>& st, int k) {
  static T empty_array[1];
  std::vector<T>& v = k == 0 ? st.s0 : k == 1 ? st.s1 : st.s2;
  if (!st.used[k]) return nullptr;
  return v.empty() ? empty_array : v.data();
}

template <typename T>
State<T> initial(const Config& c, i64 n, Rng& rng) {
  State<T> st;
  st.w.resize(static_cast<size_t>(n));
  for (auto& x : st.w) x = static_cast<T>(rng.next());
  auto fill = [&](std::vector<T>& v, bool positive) {
    st.used[&v == &st.s0 ? 0 : &v == &st.s1 ? 1 : 2] = true;
    v.resize(static_cast<size_t>(n));
    for (auto& x : v) x = static_cast<T>(positive ? 0.5 + std::fabs(rng.next()) : 0.1 * rng.next());
  };
  if (c.kind == Kind::sgd && c.sgd.momentum > 0) fill(st.s0, false);
  if (c.kind == Kind::adam || c.kind == Kind::adamw) {
    fill(st.s0, false);
    fill(st.s1, true);
  }
  if (c.kind == Kind::rmsprop) {
    fill(st.s0, true);
    if (c.rms.momentum > 0) fill(st.s1, false);
    if (c.rms.centered) fill(st.s2, false);
  }
  return st;
}

template <typename T>
void update(const Config& c, State<T>& st, const std::vector<T>& g, i64 step,
            const std::uint8_t* mask) {
  const i64 n = static_cast<i64>(st.w.size());
  switch (c.kind) {
    case Kind::sgd:
      return pyfrozen::sgd_update<T>(n, st.w.data(), g.data(), slot(st, 0), c.sgd, mask);
    case Kind::adam:
    case Kind::adamw: {
      pyfrozen::AdamOptions o = c.adam;
      o.step = step;
      if (c.kind == Kind::adam)
        return pyfrozen::adam_update<T>(n, st.w.data(), g.data(), slot(st, 0), slot(st, 1), o,
                                        mask);
      return pyfrozen::adamw_update<T>(n, st.w.data(), g.data(), slot(st, 0), slot(st, 1), o,
                                       mask);
    }
    case Kind::rmsprop:
      return pyfrozen::rmsprop_update<T>(n, st.w.data(), g.data(), slot(st, 0), slot(st, 1),
                                         slot(st, 2), c.rms, mask);
  }
}

// The Keras 3 step for one element, in double.
void reference(const Config& c, double& w, double g, double& s0, double& s1, double& s2,
               i64 t) {
  if (c.kind == Kind::sgd) {
    const auto& o = c.sgd;
    w -= w * (o.learning_rate * o.weight_decay);
    if (o.momentum > 0) {
      s0 = s0 * o.momentum - g * o.learning_rate;
      w += o.nesterov ? s0 * o.momentum - g * o.learning_rate : s0;
    } else {
      w -= g * o.learning_rate;
    }
  } else if (c.kind == Kind::rmsprop) {
    const auto& o = c.rms;
    w -= w * (o.learning_rate * o.weight_decay);
    s0 = o.rho * s0 + (1 - o.rho) * g * g;
    double den = s0 + o.epsilon;
    if (o.centered) {
      s2 = o.rho * s2 + (1 - o.rho) * g;
      den = s0 - s2 * s2 + o.epsilon;
    }
    const double inc = o.learning_rate * g / std::sqrt(den);
    if (o.momentum > 0) {
      s1 = o.momentum * s1 + inc;
      w -= s1;
    } else {
      w -= inc;
    }
  } else {
    const auto& o = c.adam;
    w -= w * (o.learning_rate * o.weight_decay);
    const double td = static_cast<double>(t);
    const double alpha =
        o.learning_rate * std::sqrt(1 - std::pow(o.beta_2, td)) / (1 - std::pow(o.beta_1, td));
    s0 += (g - s0) * (1 - o.beta_1);
    s1 += (g * g - s1) * (1 - o.beta_2);
    w -= s0 * alpha / (std::sqrt(s1) + o.epsilon);
  }
}

template <typename T>
std::vector<T> gradient(i64 n, Rng& rng) {
  std::vector<T> g(static_cast<size_t>(n));
  for (auto& x : g) x = static_cast<T>(rng.next());
  return g;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <typename T>
bool same_state(const State<T>& a, const State<T>& b) {
  return same_bits(a.w, b.w) && same_bits(a.s0, b.s0) && same_bits(a.s1, b.s1) &&
         same_bits(a.s2, b.s2);
}

// ---- checks --------------------------------------------------------------------------

template <typename T>
void check_against_reference(const Config& c, i64 n) {
  Rng rng(static_cast<std::uint64_t>(n) * 7 + 1);
  State<T> st = initial<T>(c, n, rng);
  std::vector<double> w(st.w.begin(), st.w.end()), s0(st.s0.begin(), st.s0.end()),
      s1(st.s1.begin(), st.s1.end()), s2(st.s2.begin(), st.s2.end());
  double dummy = 0;
  const double tol = sizeof(T) == 4 ? 2e-5 : 1e-12;
  for (i64 t = 1; t <= 4; ++t) {
    const std::vector<T> g = gradient<T>(n, rng);
    update(c, st, g, t, nullptr);
    for (size_t i = 0; i < static_cast<size_t>(n); ++i)
      reference(c, w[i], g[i], s0.empty() ? dummy : s0[i], s1.empty() ? dummy : s1[i],
                s2.empty() ? dummy : s2[i], t);
  }
  bool ok = true;
  for (size_t i = 0; i < static_cast<size_t>(n) && ok; ++i)
    ok = std::fabs(st.w[i] - w[i]) <= tol * (1 + std::fabs(w[i]));
  CHECK_MSG(ok, std::string(c.name) + " n=" + std::to_string(n) + " isa=" +
                    pyfrozen::isa_name(pyfrozen::active_isa()) + " threads=" +
                    std::to_string(pyfrozen::get_num_threads()));
}

// 12 masked steps with NaN/Inf/-0.0 gradients at frozen positions: frozen elements of
// the weights and of every state bit-identical to their start, the others bit-identical
// to an unmasked run.
template <typename T>
void check_mask(const Config& c, i64 n) {
  Rng rng(99);
  const State<T> start = initial<T>(c, n, rng);
  std::vector<std::uint8_t> mask(static_cast<size_t>(n));
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i < 40 || rng.next() > 0) ? 1 : 0;
  State<T> masked = start, free = start;
  for (size_t i = 0; i < mask.size(); i += 5)
    if (mask[i]) masked.w[i] = free.w[i] = T(-0.0);
  const State<T> origin = masked;
  const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                        -std::numeric_limits<T>::infinity(), T(-0.0)};
  for (i64 t = 1; t <= 12; ++t) {
    std::vector<T> g = gradient<T>(n, rng);
    for (size_t i = 0; i < mask.size(); ++i)
      if (mask[i]) g[i] = specials[(i + static_cast<size_t>(t)) % 4];
    update(c, masked, g, t, mask.data());
    for (size_t i = 0; i < mask.size(); ++i)
      if (mask[i]) g[i] = T(0);  // the unmasked run must stay finite
    update(c, free, g, t, nullptr);
  }
  auto check_array = [&](const std::vector<T>& got, const std::vector<T>& frozen_ref,
                         const std::vector<T>& free_ref) {
    for (size_t i = 0; i < got.size(); ++i) {
      const std::vector<T>& want = mask[i] ? frozen_ref : free_ref;
      if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) return false;
    }
    return true;
  };
  const bool ok = check_array(masked.w, origin.w, free.w) &&
                  check_array(masked.s0, origin.s0, free.s0) &&
                  check_array(masked.s1, origin.s1, free.s1) &&
                  check_array(masked.s2, origin.s2, free.s2);
  CHECK_MSG(ok, std::string("mask: ") + c.name + " isa=" +
                    pyfrozen::isa_name(pyfrozen::active_isa()) + " threads=" +
                    std::to_string(pyfrozen::get_num_threads()));
}

// Results do not depend on the ISA path or the thread count, bit for bit.
template <typename T>
void check_paths_agree(const Config& c) {
  const i64 n = 40001;
  std::vector<State<T>> results;
  for (pyfrozen::Isa isa : pyfrozen::supported_isas())
    for (int threads : {1, 2}) {
      pyfrozen::set_active_isa(isa);
      pyfrozen::set_num_threads(threads);
      Rng rng(5);
      State<T> st = initial<T>(c, n, rng);
      for (i64 t = 1; t <= 2; ++t) update(c, st, gradient<T>(n, rng), t, nullptr);
      results.push_back(st);
    }
  bool ok = true;
  for (const auto& r : results) ok = ok && same_state(r, results[0]);
  CHECK_MSG(ok, std::string("paths differ: ") + c.name);
}

template <typename T>
void check_errors() {
  std::vector<T> w(4, T(1)), g(4, T(1)), v(4, T(0)), m(4, T(0));
  pyfrozen::SgdOptions sgd{0.1, 0.0, false, 0.0};
  CHECK_THROWS(std::invalid_argument,
               pyfrozen::sgd_update<T>(4, w.data(), g.data(), v.data(), sgd, nullptr),
               "sgd: velocity is given but unused");
  sgd.momentum = 1.0;
  CHECK_THROWS(std::invalid_argument,
               pyfrozen::sgd_update<T>(4, w.data(), g.data(), v.data(), sgd, nullptr),
               "sgd: momentum must be in [0, 1), got 1");
  sgd = {std::nan(""), 0.0, false, 0.0};
  CHECK_THROWS(std::invalid_argument,
               pyfrozen::sgd_update<T>(4, w.data(), g.data(), nullptr, sgd, nullptr),
               "learning_rate must be finite and >= 0, got nan");
  sgd = {0.1, 0.0, false, 0.0};
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::sgd_update<T>(4, w.data(), w.data() + 2, nullptr, sgd, nullptr),
               "sgd: param and grad overlap");
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::sgd_update<T>(-1, w.data(), g.data(), nullptr, sgd, nullptr),
               "sgd: n must be >= 0, got -1");
  pyfrozen::AdamOptions adam{};
  adam.step = 0;
  CHECK_THROWS(std::invalid_argument,
               pyfrozen::adam_update<T>(4, w.data(), g.data(), m.data(), v.data(), adam, nullptr),
               "adam: step must be >= 1");
  adam.step = 1;
  CHECK_THROWS(pyfrozen::ShapeError,
               pyfrozen::adamw_update<T>(4, w.data(), g.data(), m.data(), m.data(), adam, nullptr),
               "adamw: m and v overlap");
  CHECK_THROWS(std::invalid_argument,
               pyfrozen::adam_update<T>(4, w.data(), g.data(), nullptr, v.data(), adam, nullptr),
               "adam: m is required");
  pyfrozen::RmspropOptions rms{};
  rms.centered = true;
  CHECK_THROWS(std::invalid_argument,
               pyfrozen::rmsprop_update<T>(4, w.data(), g.data(), v.data(), nullptr, nullptr, rms,
                                           nullptr),
               "rmsprop: mean_grad is required when centered=true");
  CHECK(w == std::vector<T>(4, T(1)));  // nothing was written by a refused call
}

void check_counters() {
  pyfrozen::reset_kernel_counts();
  std::vector<float> w(10, 1.f), g(10, 1.f), m(10, 0.f), v(10, 0.f);
  std::vector<std::uint8_t> mask(10, 1);
  pyfrozen::adamw_update<float>(10, w.data(), g.data(), m.data(), v.data(), {}, mask.data());
  bool found = false;
  for (const auto& k : pyfrozen::kernel_counts())
    if (k.kernel == "adamw" && k.pass == pyfrozen::Pass::update)
      found = k.calls == 1 && k.work == 10;
  CHECK(found);
}

template <typename T>
void all_for_type() {
  for (const Config& c : configs()) {
    for (pyfrozen::Isa isa : pyfrozen::supported_isas())
      for (int threads : {1, 2}) {
        pyfrozen::set_active_isa(isa);
        pyfrozen::set_num_threads(threads);
        for (i64 n : {0, 1, 7, 9, 33, 40001}) check_against_reference<T>(c, n);
        check_mask<T>(c, 40001);  // > 32768: two threads really run
      }
    check_paths_agree<T>(c);
  }
  check_errors<T>();
}

}  // namespace

int main() {
  const pyfrozen_test::RuntimeRestore restore;
  pyfrozen_test::run_section("float", [] { all_for_type<float>(); });
  pyfrozen_test::run_section("double", [] { all_for_type<double>(); });
  pyfrozen_test::run_section("counters", check_counters);
  return pyfrozen_test::summary();
}
