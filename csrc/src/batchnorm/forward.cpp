// BatchNorm forward, training (batch statistics, three passes over x: mean, variance,
// apply) and inference (running statistics, one pass). The training apply pass can end
// with an activation (relu6 in MobileNet), so the activation costs no pass of its own.
#include <algorithm>
#include <cmath>
#include <string>

#include "batchnorm/common.hpp"
#include "batchnorm/kernels.hpp"
#include "pyfrozen/batchnorm.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/errors.hpp"
#include "scratch.hpp"

namespace pyfrozen {
namespace detail::bn {
namespace {

/// Per-channel constants of the apply pass y = (x - center) * scale + shift.
template <typename T>
struct Affine {
  T* center;
  T* scale;
  T* shift;
};

/// The caller's buffers for the per-channel affine constants (3C values of T).
template <typename T>
Affine<T> affine_buffers(i64 channels) {
  T* p = scratch<T>(ScratchSlot::op_1, static_cast<std::size_t>(3 * channels));
  return {p, p + channels, p + 2 * channels};
}

// center is a rounded mean; `mean` the exact one: shifting by scale * (mean - center)
// keeps y accurate when |mean| >> std (x - center is then exact, and the rounding of
// the mean to T does not offset every output).
template <typename T>
void set_affine(const Affine<T>& a, i64 c, double mean, double inv_std, const T* gamma,
                const T* beta) {
  const T center = static_cast<T>(mean);
  const double scale = (gamma ? static_cast<double>(gamma[c]) : 1.0) * inv_std;
  const double shift = (beta ? static_cast<double>(beta[c]) : 0.0) -
                       (mean - static_cast<double>(center)) * scale;
  a.center[c] = center;
  a.scale[c] = static_cast<T>(scale);
  a.shift[c] = static_cast<T>(shift);
}

template <typename T>
void apply(const BatchNormKernels<T>& kern, const Grid& g, int nt, const T* x,
           const Affine<T>& a, Activation act, T* y) {
  const i64 C = g.channels;
  for_each_tile(g, nt, [&](const Tile& t) {
    const i64 o = t.r0 * C + t.c0;
    kern.apply(t.r1 - t.r0, t.nc, C, x + o, a.center + t.c0, a.scale + t.c0, a.shift + t.c0,
               act, y + o);
  });
}

// Pass 1: per-channel mean (double) from sums of x.
template <typename T>
void batch_mean(const BatchNormKernels<T>& kern, const Grid& g, int nt, const T* x,
                Partials part, double* mean) {
  const i64 C = g.channels;
  for_each_tile(g, nt, [&](const Tile& t) {
    kern.sum(t.r1 - t.r0, t.nc, C, x + t.r0 * C + t.c0, part.at(t));
  });
  part.merge(g.n_chunks, mean);
  for (i64 c = 0; c < C; ++c) mean[c] /= static_cast<double>(g.rows);
}

// Pass 2: biased variance around `center` (the rounded pass-1 mean). The sum of
// d = x - center corrects both the mean and the variance for the error left in the
// first pass (the "corrected two-pass" algorithm): var = (S2 - S1^2 / n) / n.
template <typename T>
void batch_variance(const BatchNormKernels<T>& kern, const Grid& g, int nt, const T* x,
                    const T* center, Partials p1, Partials p2, double* mean, double* var) {
  const i64 C = g.channels;
  for_each_tile(g, nt, [&](const Tile& t) {
    kern.centered_sums(t.r1 - t.r0, t.nc, C, x + t.r0 * C + t.c0, center + t.c0, p1.at(t),
                       p2.at(t));
  });
  const double n = static_cast<double>(g.rows);
  p1.merge(g.n_chunks, mean);  // S1 for now
  p2.merge(g.n_chunks, var);   // S2 for now
  for (i64 c = 0; c < C; ++c) {
    const double s1 = mean[c];
    var[c] = std::max(0.0, (var[c] - s1 * s1 / n) / n);
    mean[c] = static_cast<double>(center[c]) + s1 / n;
  }
}

template <typename T>
void update_running(i64 channels, const double* stat, T* running, double momentum) {
  for (i64 c = 0; c < channels; ++c)
    running[c] = static_cast<T>(momentum * static_cast<double>(running[c]) +
                                (1.0 - momentum) * stat[c]);
}

}  // namespace
}  // namespace detail::bn

template <typename T>
void batchnorm_forward_training(std::int64_t rows, std::int64_t channels, const T* x,
                                const T* gamma, const T* beta, T epsilon, T* y, T* save_mean,
                                T* save_inv_std, T* running_mean, T* running_var, T momentum,
                                Activation activation, T* save_affine) {
  using namespace detail;
  using namespace detail::bn;
  const char* op = "batchnorm_forward_training";
  check_sizes(op, rows, channels);
  check_epsilon(op, static_cast<double>(epsilon));
  check_momentum(op, static_cast<double>(momentum));
  if (rows == 0)
    throw ShapeError(std::string(op) + ": batch statistics need at least one row, got rows=0 " +
                     "(channels=" + std::to_string(channels) + ")");
  if ((running_mean == nullptr) != (running_var == nullptr))
    throw ShapeError(std::string(op) + ": running_mean and running_var go together (one is null)");
  const bool work = channels > 0;
  check_pointer(op, "x", x, work);
  check_pointer(op, "y", y, work);
  count_kernel("batchnorm", Pass::forward, rows * channels);
  if (!work) return;

  const Grid g = make_grid(rows, channels);
  const int nt = threads_for(static_cast<double>(rows) * static_cast<double>(channels),
                             kSerialElements);
  double* buf = scratch<double>(ScratchSlot::op_0, static_cast<std::size_t>(
                                                       (2 * g.n_chunks + 2) * channels));
  const Partials p1{buf, channels}, p2{buf + g.n_chunks * channels, channels};
  double* mean = buf + 2 * g.n_chunks * channels;
  double* var = mean + channels;
  const Affine<T> a = affine_buffers<T>(channels);

  const BatchNormKernels<T> kern = kBatchNormKernels.active<T>();
  batch_mean(kern, g, nt, x, p1, mean);
  for (i64 c = 0; c < channels; ++c) a.center[c] = static_cast<T>(mean[c]);
  batch_variance(kern, g, nt, x, a.center, p1, p2, mean, var);
  for (i64 c = 0; c < channels; ++c) {
    const double inv_std = 1.0 / std::sqrt(var[c] + static_cast<double>(epsilon));
    set_affine(a, c, mean[c], inv_std, gamma, beta);
    if (save_mean) save_mean[c] = static_cast<T>(mean[c]);
    if (save_inv_std) save_inv_std[c] = static_cast<T>(inv_std);
  }
  if (running_mean) {
    update_running(channels, mean, running_mean, static_cast<double>(momentum));
    update_running(channels, var, running_var, static_cast<double>(momentum));
  }
  if (save_affine) std::copy(a.center, a.center + 3 * channels, save_affine);  // one buffer
  apply(kern, g, nt, x, a, activation, y);
}

template <typename T>
void batchnorm_forward_inference(std::int64_t rows, std::int64_t channels, const T* x,
                                 const T* gamma, const T* beta, const T* running_mean,
                                 const T* running_var, T epsilon, T* y) {
  using namespace detail;
  using namespace detail::bn;
  const char* op = "batchnorm_forward_inference";
  check_sizes(op, rows, channels);
  check_epsilon(op, static_cast<double>(epsilon));
  const bool work = rows > 0 && channels > 0;
  check_pointer(op, "x", x, work);
  check_pointer(op, "y", y, work);
  check_pointer(op, "running_mean", running_mean, work);
  check_pointer(op, "running_var", running_var, work);
  count_kernel("batchnorm", Pass::forward, rows * channels);
  if (!work) return;

  const Affine<T> a = affine_buffers<T>(channels);
  for (i64 c = 0; c < channels; ++c) {
    const double var = static_cast<double>(running_var[c]);
    set_affine(a, c, static_cast<double>(running_mean[c]),
               1.0 / std::sqrt(var + static_cast<double>(epsilon)), gamma, beta);
  }
  const int nt = threads_for(static_cast<double>(rows) * static_cast<double>(channels),
                             kSerialElements);
  apply(kBatchNormKernels.active<T>(), make_grid(rows, channels), nt, x, a, Activation::none,
        y);
}

#define PYFROZEN_INSTANTIATE(T)                                                             \
  template PYFROZEN_API void batchnorm_forward_training<T>(                                 \
      std::int64_t, std::int64_t, const T*, const T*, const T*, T, T*, T*, T*, T*, T*, T,  \
      Activation, T*);                                                                      \
  template PYFROZEN_API void batchnorm_forward_inference<T>(                                \
      std::int64_t, std::int64_t, const T*, const T*, const T*, const T*, const T*, T, T*);
PYFROZEN_INSTANTIATE(float)
PYFROZEN_INSTANTIATE(double)
#undef PYFROZEN_INSTANTIATE

}  // namespace pyfrozen
