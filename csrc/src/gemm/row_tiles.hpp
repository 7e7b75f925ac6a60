#pragma once
// Private: how a block of rows is cut into micro-tiles (shared by packing and driver).
#include <cstdint>

namespace pyfrozen::detail {

/// Tiles of mr rows, except that a remainder of 1 or 2 rows is merged with the last
/// full tile and split evenly (6+2 -> 4+4, 6+1 -> 4+3): a 1- or 2-row tile has too few
/// independent accumulators to hide the FMA latency, a 4-row tile has enough.
/// Packed A keeps one mr-row slot per tile, so tile p always starts at p * mr * kc.
struct RowTiles {
  std::int64_t m;
  int mr;

  std::int64_t count() const { return (m + mr - 1) / mr; }
  bool balanced() const {
    const std::int64_t r = m % mr;
    return m > mr && (r == 1 || r == 2);
  }
  int rows(std::int64_t p) const {
    const std::int64_t last = count() - 1;
    if (balanced() && p >= last - 1) {
      const int pair = mr + static_cast<int>(m % mr);
      return p == last - 1 ? (pair + 1) / 2 : pair / 2;
    }
    return static_cast<int>(p < last ? mr : m - last * mr);
  }
  std::int64_t start(std::int64_t p) const {
    return p == count() - 1 ? m - rows(p) : p * mr;
  }
};

}  // namespace pyfrozen::detail
