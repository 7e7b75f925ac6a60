// bias + activation forward and backward: validation, threads and the dbias reduction
// around the per-ISA row kernels (bias_act_ref.cpp / bias_act_avx2.cpp).
#include <algorithm>
#include <cstring>
#include <string>

#include "chunked_for.hpp"
#include "elementwise/bias_act_kernels.hpp"
#include "pyfrozen/activation.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/errors.hpp"
#include "pyfrozen/runtime.hpp"
#include "scratch.hpp"

namespace pyfrozen {
namespace detail {
namespace {

using i64 = std::int64_t;

constexpr i64 kChunkElements = 16384;  // ~64 KiB of float per chunk: L2-resident


// sigmoid and tanh cost ~10x a relu per element: count that for the thread decision.
double element_cost(Activation act) {
  return act == Activation::sigmoid || act == Activation::tanh ? 10.0 : 1.0;
}

void check_sizes(const char* op, i64 rows, i64 channels) {
  require_non_negative(op, "rows", rows);
  require_non_negative(op, "channels", channels);
}

// dbias: each chunk of rows sums its g into its own row of `partial` (T, at most a few
// hundred rows deep), then the chunks are added in order in double: the same bits for
// any thread count.
template <typename T>
void backward_with_dbias(const BiasActKernels<T>& k, i64 rows, i64 c, const T* dy, const T* y,
                         Activation act, T* dx, T* dbias) {
  const i64 chunk = std::clamp<i64>(kChunkElements / std::max<i64>(c, 1), 1, 512);
  const i64 n_chunks = (rows + chunk - 1) / chunk;
  T* partial = scratch<T>(ScratchSlot::op_0, static_cast<std::size_t>(n_chunks * c));
  double* total = scratch<double>(ScratchSlot::op_1, static_cast<std::size_t>(c));
  const double work = static_cast<double>(rows) * static_cast<double>(c) * element_cost(act);
  chunked_for(rows, chunk, work, [&](i64 t, i64 r0, i64 r1) {
    T* acc = partial + t * c;
    std::fill(acc, acc + c, T(0));
    k.backward(r1 - r0, c, dy + r0 * c, y + r0 * c, act, dx ? dx + r0 * c : nullptr, acc);
  });
  std::fill(total, total + c, 0.0);
  for (i64 t = 0; t < n_chunks; ++t)
    for (i64 j = 0; j < c; ++j) total[j] += static_cast<double>(partial[t * c + j]);
  for (i64 j = 0; j < c; ++j) dbias[j] = static_cast<T>(total[j]);
}

}  // namespace
}  // namespace detail

template <typename T>
void bias_act_forward(std::int64_t rows, std::int64_t channels, const T* x, const T* bias,
                      Activation act, T* y) {
  using namespace detail;
  check_sizes("bias_act_forward", rows, channels);
  const double n = static_cast<double>(rows) * static_cast<double>(channels);
  count_kernel("bias_act", Pass::forward, rows * channels);
  if (rows == 0 || channels == 0) return;
  const BiasActKernels<T> k = kBiasActKernels.active<T>();
  const i64 chunk = std::max<i64>(1, kChunkElements / channels);
  chunked_for(rows, chunk, n * element_cost(act), [&](i64, i64 r0, i64 r1) {
    k.forward(r1 - r0, channels, x + r0 * channels, bias, act, y + r0 * channels);
  });
}

template <typename T>
void bias_act_backward(std::int64_t rows, std::int64_t channels, const T* dy, const T* y,
                       Activation act, T* dx, T* dbias) {
  using namespace detail;
  check_sizes("bias_act_backward", rows, channels);
  if (dx != nullptr) count_kernel("bias_act", Pass::backward_input, rows * channels);
  if (dbias != nullptr) count_kernel("bias_act", Pass::backward_bias, rows * channels);
  if (channels == 0 || (dx == nullptr && dbias == nullptr)) return;
  if (rows == 0) {  // the sum over no rows
    if (dbias != nullptr) std::fill(dbias, dbias + channels, T(0));
    return;
  }
  const BiasActKernels<T> k = kBiasActKernels.active<T>();
  if (dbias != nullptr) return backward_with_dbias(k, rows, channels, dy, y, act, dx, dbias);
  const double n = static_cast<double>(rows) * static_cast<double>(channels);
  const i64 chunk = std::max<i64>(1, kChunkElements / channels);
  chunked_for(rows, chunk, n * element_cost(act), [&](i64, i64 r0, i64 r1) {
    k.backward(r1 - r0, channels, dy + r0 * channels, y + r0 * channels, act,
               dx + r0 * channels, nullptr);
  });
}

template PYFROZEN_API void bias_act_forward<float>(std::int64_t, std::int64_t, const float*,
                                                   const float*, Activation, float*);
template PYFROZEN_API void bias_act_forward<double>(std::int64_t, std::int64_t, const double*,
                                                    const double*, Activation, double*);
template PYFROZEN_API void bias_act_backward<float>(std::int64_t, std::int64_t, const float*,
                                                    const float*, Activation, float*, float*);
template PYFROZEN_API void bias_act_backward<double>(std::int64_t, std::int64_t, const double*,
                                                     const double*, Activation, double*,
                                                     double*);

}  // namespace pyfrozen
