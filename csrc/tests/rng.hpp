#pragma once
// Test-only random numbers: splitmix64, so every platform draws the same values
// (std:: distributions are not portable). Shared by every C++ test.
#include <cstdint>

namespace pyfrozen_test {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  /// Uniform in [0, 1).
  double unit() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  }
  /// Uniform in [-1, 1).
  double next() { return 2.0 * unit() - 1.0; }
  /// Uniform integer in [0, n).
  std::int64_t below(std::int64_t n) {
    return static_cast<std::int64_t>(unit() * static_cast<double>(n));
  }

 private:
  std::uint64_t state_;
};

}  // namespace pyfrozen_test
