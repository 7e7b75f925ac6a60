// BatchNorm backward, training mode (batch statistics: one reduction pass, one pass
// writing dx) and inference mode (running statistics: one fused pass). Only the
// requested outputs are computed, and only the sums they need are accumulated. A
// training forward that ended with an activation is differentiated through it here:
// both passes read g = dy * act'(y) element by element instead of dy, so the
// activation's gradient is never written out.
#include <cmath>
#include <string>

#include "batchnorm/common.hpp"
#include "batchnorm/kernels.hpp"
#include "pyfrozen/batchnorm.hpp"
#include "pyfrozen/counters.hpp"
#include "scratch.hpp"

namespace pyfrozen {
namespace detail::bn {
namespace {

/// The caller's buffers: partials of two sums and their per-channel totals.
struct SumBuffers {
  Partials p_dy, p_dyx;  // sum(dy), sum(dy * (x - center))
  double* dy_sum;
  double* dyx_sum;
};

SumBuffers sum_buffers(const Grid& g) {
  const i64 C = g.channels;
  double* buf = scratch<double>(ScratchSlot::op_0,
                                static_cast<std::size_t>((2 * g.n_chunks + 2) * C));
  double* totals = buf + 2 * g.n_chunks * C;
  return {{buf, C}, {buf + g.n_chunks * C, C}, totals, totals + C};
}

void count_grads(bool dx, bool dgamma, bool dbeta, i64 work) {
  if (dx) count_kernel("batchnorm", Pass::backward_input, work);
  if (dgamma) count_kernel("batchnorm", Pass::backward_weight, work);
  if (dbeta) count_kernel("batchnorm", Pass::backward_bias, work);
}

/// dy, and where act'(.) comes from when the forward ended with an activation.
template <typename T>
struct Upstream {
  const T* dy;
  ActInput<T> in;
  Activation act;
  /// Whether the kernels read x for act'(.) (the forward's output recomputed).
  bool reads_x() const { return act != Activation::none && in.y == nullptr; }
};

// The one pass of the inference backward (no activation), and the reduction pass of
// the training backward (no dx): dx = g * k, and the sums of g (want_dy) and
// g * (x - center) (want_dyx) into the partials, g = dy * act'(y).
template <typename T>
void grad_pass(const BatchNormKernels<T>& kern, const Grid& g, int nt, Upstream<T> up,
               const T* x, const T* center, const T* k, T* dx, bool want_dy, bool want_dyx,
               const SumBuffers& s) {
  const i64 C = g.channels;
  for_each_tile(g, nt, [&](const Tile& t) {
    const i64 o = t.r0 * C + t.c0;
    // null when not needed: no offset on null
    kern.grad(t.r1 - t.r0, t.nc, C, up.dy + o, up.in.at(o, t.c0), up.act,
              want_dyx || up.reads_x() ? x + o : nullptr, want_dyx ? center + t.c0 : nullptr,
              dx ? k + t.c0 : nullptr, dx ? dx + o : nullptr,
              want_dy ? s.p_dy.at(t) : nullptr, want_dyx ? s.p_dyx.at(t) : nullptr);
  });
  if (want_dy) s.p_dy.merge(g.n_chunks, s.dy_sum);
  if (want_dyx) s.p_dyx.merge(g.n_chunks, s.dyx_sum);
}

// dx of the training backward: k1 * g + k2 * (x - mean) + k3 per channel, g = dy * act'(y).
template <typename T>
void training_dx(const BatchNormKernels<T>& kern, const Grid& g, int nt, Upstream<T> up,
                 const T* x, const T* mean, const T* k, T* dx) {
  const i64 C = g.channels;
  for_each_tile(g, nt, [&](const Tile& t) {
    const i64 o = t.r0 * C + t.c0;
    kern.training_dx(t.r1 - t.r0, t.nc, C, up.dy + o, up.in.at(o, t.c0), up.act, x + o,
                     mean + t.c0, k + t.c0, k + C + t.c0, k + 2 * C + t.c0, dx + o);
  });
}

template <typename T>
void write_param_grads(i64 C, const SumBuffers& s, const T* inv_std_t, const double* inv_std_d,
                       T* dgamma, T* dbeta) {
  for (i64 c = 0; c < C; ++c) {
    if (dbeta) dbeta[c] = static_cast<T>(s.dy_sum[c]);
    if (dgamma) {
      const double is = inv_std_d ? inv_std_d[c] : static_cast<double>(inv_std_t[c]);
      dgamma[c] = static_cast<T>(s.dyx_sum[c] * is);
    }
  }
}

// Sums over zero rows are zero.
template <typename T>
void zero_sums(i64 C, T* dgamma, T* dbeta) {
  for (i64 c = 0; c < C; ++c) {
    if (dgamma) dgamma[c] = T(0);
    if (dbeta) dbeta[c] = T(0);
  }
}

}  // namespace
}  // namespace detail::bn

template <typename T>
void batchnorm_backward_training(std::int64_t rows, std::int64_t channels, const T* dy,
                                 const T* x, const T* gamma, const T* save_mean,
                                 const T* save_inv_std, T* dx, T* dgamma, T* dbeta, const T* y,
                                 Activation activation, const T* save_affine) {
  using namespace detail;
  using namespace detail::bn;
  const char* op = "batchnorm_backward_training";
  check_sizes(op, rows, channels);
  const bool any = dx || dgamma || dbeta, stats = dx || dgamma;
  const bool work = rows > 0 && channels > 0;
  check_pointer(op, "dy", dy, any && work);
  check_pointer(op, "x", x, stats && work);
  check_pointer(op, "save_mean", save_mean, stats && work);
  check_pointer(op, "save_inv_std", save_inv_std, stats && work);
  // The forward's affine constants stand in for y (act'(.) recomputed from x).
  const bool from_x = save_affine != nullptr && activation != Activation::none;
  check_pointer(op, "x", x, from_x && any && work);
  check_pointer(op, "y", y, activation != Activation::none && !from_x && any && work);
  count_grads(dx, dgamma, dbeta, rows * channels);
  if (!work) return zero_sums(channels, dgamma, dbeta);
  if (!any) return;

  const Grid g = make_grid(rows, channels);
  const int nt = threads_for(static_cast<double>(rows) * static_cast<double>(channels),
                             kSerialElements);
  const SumBuffers s = sum_buffers(g);
  const BatchNormKernels<T> kern = kBatchNormKernels.active<T>();
  ActInput<T> in;
  if (from_x)
    in = {nullptr, save_affine, save_affine + channels, save_affine + 2 * channels};
  else if (activation != Activation::none)
    in.y = y;
  const Upstream<T> up{dy, in, activation};
  grad_pass<T>(kern, g, nt, up, x, save_mean, nullptr, nullptr, dx || dbeta, stats, s);
  write_param_grads<T>(channels, s, save_inv_std, nullptr, dgamma, dbeta);
  if (!dx) return;
  T* k = scratch<T>(ScratchSlot::op_1, static_cast<std::size_t>(3 * channels));
  const double n = static_cast<double>(rows);
  for (i64 c = 0; c < channels; ++c) {
    const double is = static_cast<double>(save_inv_std[c]);
    const double gi = (gamma ? static_cast<double>(gamma[c]) : 1.0) * is;
    k[c] = static_cast<T>(gi);
    k[channels + c] = static_cast<T>(-gi * is * is * s.dyx_sum[c] / n);
    k[2 * channels + c] = static_cast<T>(-gi * s.dy_sum[c] / n);
  }
  training_dx(kern, g, nt, up, x, save_mean, k, dx);
}

template <typename T>
void batchnorm_backward_inference(std::int64_t rows, std::int64_t channels, const T* dy,
                                  const T* x, const T* gamma, const T* running_mean,
                                  const T* running_var, T epsilon, T* dx, T* dgamma, T* dbeta) {
  using namespace detail;
  using namespace detail::bn;
  const char* op = "batchnorm_backward_inference";
  check_sizes(op, rows, channels);
  check_epsilon(op, static_cast<double>(epsilon));
  const bool any = dx || dgamma || dbeta, inv = dx || dgamma;
  const bool work = rows > 0 && channels > 0;
  check_pointer(op, "dy", dy, any && work);
  check_pointer(op, "x", x, dgamma && work);
  check_pointer(op, "running_mean", running_mean, dgamma && work);
  check_pointer(op, "running_var", running_var, inv && work);
  count_grads(dx, dgamma, dbeta, rows * channels);
  if (!work) return zero_sums(channels, dgamma, dbeta);
  if (!any) return;

  const Grid g = make_grid(rows, channels);
  const int nt = threads_for(static_cast<double>(rows) * static_cast<double>(channels),
                             kSerialElements);
  const SumBuffers s = sum_buffers(g);
  // Per channel: inv_std (double, for dgamma) and k = gamma * inv_std (T, for dx).
  double* inv_std = scratch<double>(ScratchSlot::op_2, static_cast<std::size_t>(channels));
  T* k = scratch<T>(ScratchSlot::op_1, static_cast<std::size_t>(channels));
  for (i64 c = 0; c < channels && inv; ++c) {
    inv_std[c] = 1.0 / std::sqrt(static_cast<double>(running_var[c]) +
                                 static_cast<double>(epsilon));
    k[c] = static_cast<T>((gamma ? static_cast<double>(gamma[c]) : 1.0) * inv_std[c]);
  }
  grad_pass<T>(kBatchNormKernels.active<T>(), g, nt, {dy, {}, Activation::none}, x,
               running_mean, k, dx, dbeta != nullptr, dgamma != nullptr, s);
  write_param_grads<T>(channels, s, nullptr, inv_std, dgamma, dbeta);
}

#define PYFROZEN_INSTANTIATE(T)                                                          \
  template PYFROZEN_API void batchnorm_backward_training<T>(                             \
      std::int64_t, std::int64_t, const T*, const T*, const T*, const T*, const T*, T*, \
      T*, T*, const T*, Activation, const T*);                                          \
  template PYFROZEN_API void batchnorm_backward_inference<T>(                            \
      std::int64_t, std::int64_t, const T*, const T*, const T*, const T*, const T*, T,  \
      T*, T*, T*);
PYFROZEN_INSTANTIATE(float)
PYFROZEN_INSTANTIATE(double)
#undef PYFROZEN_INSTANTIATE

}  // namespace pyfrozen
