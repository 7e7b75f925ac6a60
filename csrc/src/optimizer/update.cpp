// Optimizer updates: argument checks, coefficients (in double), ISA dispatch and the
// thread split. The element loops live in update_ref.cpp / update_avx2.cpp.
#include <cmath>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "optimizer/kernels.hpp"
#include "parallel.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/errors.hpp"
#include "pyfrozen/optimizer.hpp"
#include "pyfrozen/runtime.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

// Elements per task: a multiple of every vector width, large enough that scheduling
// costs nothing next to the memory traffic (8192 Adam elements move ~160 KB).
constexpr i64 kChunk = 8192;


std::string num(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

[[noreturn]] void bad_value(const char* op, const char* name, double x, const char* rule) {
  throw std::invalid_argument(std::string(op) + ": " + name + " must be " + rule + ", got " +
                              num(x));
}

void check_nonneg(const char* op, const char* name, double x) {
  if (!(std::isfinite(x) && x >= 0)) bad_value(op, name, x, "finite and >= 0");
}

void check_fraction(const char* op, const char* name, double x) {
  if (!(x >= 0 && x < 1)) bad_value(op, name, x, "in [0, 1)");
}

void require_state(const char* op, const char* name, const void* p) {
  if (p == nullptr) throw std::invalid_argument(std::string(op) + ": " + name + " is required");
}

/// A state array must be given exactly when the option that uses it is on.
void check_state(const char* op, const char* name, const void* p, bool used, const char* when) {
  if (used && p == nullptr)
    throw std::invalid_argument(std::string(op) + ": " + name + " is required when " + when);
  if (!used && p != nullptr)
    throw std::invalid_argument(std::string(op) + ": " + name + " is given but unused: it is " +
                                "only kept when " + when);
}

struct Span {
  const char* name;
  const void* p;
  i64 bytes;
};

/// ShapeError if any two given (non-null) arrays share memory: an in-place update
/// reads each element once, so aliased arrays would give order-dependent results.
void check_disjoint(const char* op, std::initializer_list<Span> spans) {
  for (auto a = spans.begin(); a != spans.end(); ++a)
    for (auto b = a + 1; b != spans.end(); ++b) {
      if (a->p == nullptr || b->p == nullptr || a->bytes == 0) continue;
      const auto a0 = reinterpret_cast<std::uintptr_t>(a->p);
      const auto b0 = reinterpret_cast<std::uintptr_t>(b->p);
      if (a0 < b0 + static_cast<std::uintptr_t>(b->bytes) &&
          b0 < a0 + static_cast<std::uintptr_t>(a->bytes))
        throw ShapeError(std::string(op) + ": " + a->name + " and " + b->name +
                         " overlap in memory; pass separate arrays");
    }
}

void check_count(const char* op, i64 n, const void* param, const void* grad) {
  if (n < 0) throw ShapeError(std::string(op) + ": n must be >= 0, got " + std::to_string(n));
  if (n > 0 && (param == nullptr || grad == nullptr))
    throw std::invalid_argument(std::string(op) + ": param and grad are required");
}

/// Calls kernel(args, begin, end) over [0, n) in chunks, on a team above the threshold.
template <typename Args, typename Kernel>
void run_chunks(i64 n, const Args& args, Kernel kernel) {
  const i64 n_chunks = (n + kChunk - 1) / kChunk;
  run_team(threads_for(static_cast<double>(n), kSerialElements), [&] {
#pragma omp for schedule(dynamic, 1)
    for (i64 c = 0; c < n_chunks; ++c)
      kernel(args, c * kChunk, (c + 1) * kChunk < n ? (c + 1) * kChunk : n);
  });
}

template <typename T>
T decay_coef(double lr, double wd) {
  return static_cast<T>(lr * wd);
}

template <typename T>
void adam_like(const char* op, i64 n, T* w, const T* g, T* m, T* v, const AdamOptions& o,
               const std::uint8_t* mask) {
  check_count(op, n, w, g);
  check_nonneg(op, "learning_rate", o.learning_rate);
  check_fraction(op, "beta_1", o.beta_1);
  check_fraction(op, "beta_2", o.beta_2);
  check_nonneg(op, "epsilon", o.epsilon);
  check_nonneg(op, "weight_decay", o.weight_decay);
  if (o.step < 1)
    throw std::invalid_argument(std::string(op) + ": step must be >= 1 (the update count " +
                                "including this one), got " + std::to_string(o.step));
  require_state(op, "m", m);
  require_state(op, "v", v);
  const i64 b = n * static_cast<i64>(sizeof(T));
  check_disjoint(op, {{"param", w, b}, {"grad", g, b}, {"m", m, b}, {"v", v, b}, {"mask", mask, n}});
  count_kernel(op, Pass::update, n);
  const double t = static_cast<double>(o.step);
  const double alpha = o.learning_rate * std::sqrt(1.0 - std::pow(o.beta_2, t)) /
                       (1.0 - std::pow(o.beta_1, t));
  const AdamArgs<T> args{w, g, m, v, mask,
                         static_cast<T>(alpha), static_cast<T>(1.0 - o.beta_1),
                         static_cast<T>(1.0 - o.beta_2), static_cast<T>(o.epsilon),
                         decay_coef<T>(o.learning_rate, o.weight_decay)};
  run_chunks(n, args, kOptimizerKernels.active<T>().adam);
}

}  // namespace
}  // namespace detail

template <typename T>
void sgd_update(std::int64_t n, T* param, const T* grad, T* velocity, const SgdOptions& o,
                const std::uint8_t* mask) {
  using namespace detail;
  const char* op = "sgd";
  check_count(op, n, param, grad);
  check_nonneg(op, "learning_rate", o.learning_rate);
  check_fraction(op, "momentum", o.momentum);
  check_nonneg(op, "weight_decay", o.weight_decay);
  check_state(op, "velocity", velocity, o.momentum > 0, "momentum > 0");
  const i64 b = n * static_cast<i64>(sizeof(T));
  check_disjoint(op, {{"param", param, b}, {"grad", grad, b}, {"velocity", velocity, b},
                      {"mask", mask, n}});
  count_kernel(op, Pass::update, n);
  // Keras: nesterov without momentum is plain SGD (there is no velocity to look ahead with).
  const SgdArgs<T> args{param, grad, velocity, mask, static_cast<T>(o.learning_rate),
                        static_cast<T>(o.momentum),
                        decay_coef<T>(o.learning_rate, o.weight_decay),
                        o.nesterov && o.momentum > 0};
  run_chunks(n, args, kOptimizerKernels.active<T>().sgd);
}

template <typename T>
void adam_update(std::int64_t n, T* param, const T* grad, T* m, T* v, const AdamOptions& opt,
                 const std::uint8_t* mask) {
  detail::adam_like("adam", n, param, grad, m, v, opt, mask);
}

template <typename T>
void adamw_update(std::int64_t n, T* param, const T* grad, T* m, T* v, const AdamOptions& opt,
                  const std::uint8_t* mask) {
  detail::adam_like("adamw", n, param, grad, m, v, opt, mask);
}

template <typename T>
void rmsprop_update(std::int64_t n, T* param, const T* grad, T* velocity, T* momentum_buffer,
                    T* mean_grad, const RmspropOptions& o, const std::uint8_t* mask) {
  using namespace detail;
  const char* op = "rmsprop";
  check_count(op, n, param, grad);
  check_nonneg(op, "learning_rate", o.learning_rate);
  check_fraction(op, "rho", o.rho);
  check_fraction(op, "momentum", o.momentum);
  check_nonneg(op, "epsilon", o.epsilon);
  check_nonneg(op, "weight_decay", o.weight_decay);
  require_state(op, "velocity", velocity);
  check_state(op, "momentum_buffer", momentum_buffer, o.momentum > 0, "momentum > 0");
  check_state(op, "mean_grad", mean_grad, o.centered, "centered=true");
  const i64 b = n * static_cast<i64>(sizeof(T));
  check_disjoint(op, {{"param", param, b}, {"grad", grad, b}, {"velocity", velocity, b},
                      {"momentum_buffer", momentum_buffer, b}, {"mean_grad", mean_grad, b},
                      {"mask", mask, n}});
  count_kernel(op, Pass::update, n);
  const RmspropArgs<T> args{param, grad, velocity, momentum_buffer, mean_grad, mask,
                            static_cast<T>(o.learning_rate), static_cast<T>(o.rho),
                            static_cast<T>(1.0 - o.rho), static_cast<T>(o.momentum),
                            static_cast<T>(o.epsilon),
                            decay_coef<T>(o.learning_rate, o.weight_decay)};
  run_chunks(n, args, kOptimizerKernels.active<T>().rmsprop);
}

#define PYFROZEN_OPTIMIZER_INSTANTIATE(T)                                                  \
  template PYFROZEN_API void sgd_update<T>(std::int64_t, T*, const T*, T*,                \
                                           const SgdOptions&, const std::uint8_t*);       \
  template PYFROZEN_API void adam_update<T>(std::int64_t, T*, const T*, T*, T*,           \
                                            const AdamOptions&, const std::uint8_t*);     \
  template PYFROZEN_API void adamw_update<T>(std::int64_t, T*, const T*, T*, T*,          \
                                             const AdamOptions&, const std::uint8_t*);    \
  template PYFROZEN_API void rmsprop_update<T>(std::int64_t, T*, const T*, T*, T*, T*,    \
                                               const RmspropOptions&, const std::uint8_t*);
PYFROZEN_OPTIMIZER_INSTANTIATE(float)
PYFROZEN_OPTIMIZER_INSTANTIATE(double)

}  // namespace pyfrozen
