// Mean squared error over all elements, gradient in the same pass.
#include <limits>

#include "chunked_for.hpp"
#include "pyfrozen/counters.hpp"
#include "pyfrozen/loss.hpp"

namespace pyfrozen {

template <typename T>
double mse(std::int64_t count, const T* pred, const T* target, T* grad) {
  using i64 = std::int64_t;
  detail::require_non_negative("mse", "count", count);
  count_kernel("mse", Pass::forward, count);
  if (grad != nullptr) count_kernel("mse", Pass::backward_input, count);
  if (count == 0) return std::numeric_limits<double>::quiet_NaN();
  const double inv = 1.0 / static_cast<double>(count);
  const double total =
      detail::chunked_sum(count, 8192, static_cast<double>(count), [&](i64 b, i64 e) {
        double s = 0.0;
        for (i64 i = b; i < e; ++i) {
          const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
          s += d * d;
          if (grad != nullptr) grad[i] = static_cast<T>(2.0 * inv * d);
        }
        return s;
      });
  return total * inv;
}

template PYFROZEN_API double mse<float>(std::int64_t, const float*, const float*, float*);
template PYFROZEN_API double mse<double>(std::int64_t, const double*, const double*, double*);

}  // namespace pyfrozen
