// Argument checks shared by the batchnorm entry points: each throws ShapeError with
// the op's name and the offending value.
#include <cmath>
#include <string>

#include "batchnorm/common.hpp"
#include "pyfrozen/errors.hpp"

namespace pyfrozen::detail::bn {

void check_sizes(const char* op, i64 rows, i64 channels) {
  if (rows < 0 || channels < 0)
    throw ShapeError(std::string(op) + ": sizes must be non-negative, got rows=" +
                     std::to_string(rows) + " channels=" + std::to_string(channels));
}

void check_epsilon(const char* op, double epsilon) {
  if (!(epsilon >= 0.0) || !std::isfinite(epsilon))
    throw ShapeError(std::string(op) + ": epsilon must be finite and >= 0, got " +
                     std::to_string(epsilon));
}

void check_momentum(const char* op, double momentum) {
  if (!(momentum >= 0.0 && momentum <= 1.0))
    throw ShapeError(std::string(op) + ": momentum must be in [0, 1] (Keras convention: "
                     "weight of the old running value), got " + std::to_string(momentum));
}

void check_pointer(const char* op, const char* name, const void* ptr, bool needed) {
  if (needed && ptr == nullptr)
    throw ShapeError(std::string(op) + ": " + name + " is null but required");
}

}  // namespace pyfrozen::detail::bn
